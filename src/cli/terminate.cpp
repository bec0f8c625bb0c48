// The p2pnode program's terminate handler: what runs if an exception escapes everything (our code lets none do:
// every C callback is fenced, main catches what is left). One line naming it, then abort (a core dump for the
// post-mortem), as the default handler does.
//
// Why this way: it defines libstdc++'s default handler, __gnu_cxx::__verbose_terminate_handler (the one its
// eh_term_handler.o installs and std::set_terminate(nullptr) restores), so that libstdc++'s own (vterminate.o)
// and the C++ demangler it calls (about 40 KB) stay out of the statically linked binary (meson's lean_exe).
// Linked into the p2pnode program only: an embedder of the engine keeps libstdc++'s.
#include <cstdio>
#include <cstdlib>
#include <exception>

namespace {

[[noreturn]] void terminate_with_a_line() noexcept {
    const char* what = "not a std::exception";
    if (std::exception_ptr e = std::current_exception()) {
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            what = x.what();
        } catch (...) {
        }
    } else {
        what = "no exception (std::terminate called)";
    }
    std::fprintf(stderr, "p2pnode: internal error: uncaught exception: %s; aborting\n", what);
    std::abort();
}

} // namespace

namespace __gnu_cxx {
void __verbose_terminate_handler() { terminate_with_a_line(); } // NOLINT: libstdc++'s default handler, by design
} // namespace __gnu_cxx
