// Internal name of the public header.
#pragma once
#include "p2pnode/node.hpp"
