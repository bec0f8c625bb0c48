# parse_scrape.py [FIELD...] < text: the numbers of free-form scrape output, one per FIELD (seeders, completed,
# leechers; default all three in that order), space-separated, -1 when a field is not found. Accepts
# "seeders: 3", "seeders=3", "3 seeders", "complete 3"...
import re, sys
WORDS = {'seeders': ['seeders', 'seeds', 'seeding', 'complete'],
         'completed': ['completed', 'downloaded', 'snatches', 'downloads'],
         'leechers': ['leechers', 'leeches', 'leeching', 'incomplete']}
text = sys.stdin.read().lower()
def find(words):
    alt = '|'.join(words)
    m = re.search(r'\b(?:%s)\b\s*[:=]?\s*(\d+)' % alt, text) or re.search(r'(\d+)\s+(?:%s)\b' % alt, text)
    return int(m.group(1)) if m else -1
print(*(find(WORDS[f]) for f in (sys.argv[1:] or ['seeders', 'completed', 'leechers'])))
