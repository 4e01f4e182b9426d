#!/bin/bash
# How the embedded model's answers of the labelled set were generated (issue 14), on the 2-core
# development machine with the shared data; the runs go to one database that build.py reads.
# (The CMMLU run came first; the others were reordered and cut to fit the CPU time available.)
cd "$(dirname "$0")/../.."
DB=${DB:-/tmp/i14-labels.db}
S=${S:-../shared/data}
medgap run --db $DB -m local/default --suite $S/cmmlu_medical/test --limit 5 --choice-mode generate --max-tokens 200 --run-id lab-cmmlu -q
# (interrupted after 6 items: two threads stalled under the machine's load)
medgap run --db $DB -m local/default --suite $S/mtcmb/TCM-ED-A.jsonl --format mtcmb --limit 15 --choice-mode generate --max-tokens 200 --run-id lab-eda -q
# later, on the busy machine, one thread per run (two stalled under load):
M='local/default?n_threads=1'
medgap run --db $DB -m "$M" --suite $S/cmb_clin/CMB-test-qa.json --format cmb_clin --limit 8 --max-tokens 250 --run-id lab-clin1 -q
medgap run --db $DB -m "$M" --suite $S/mtcmb/TCM-FT.jsonl --format mtcmb --limit 6 --max-tokens 200 --run-id lab-ft1 -q
medgap run --db $DB -m "$M" --suite $S/mtcmb/TCM-SE-A.jsonl --format mtcmb --limit 8 --max-tokens 60 --run-id lab-sea1 -q
medgap run --db $DB -m "$M" --suite $S/mtcmb/TCM-ED-B.jsonl --format mtcmb --limit 6 --choice-mode generate --intervention cot --max-tokens 200 --run-id lab-edb-cot1 -q
medgap run --db $DB -m "$M" --suite $S/cmmlu_medical/dev --format cmmlu --limit 3 --choice-mode generate --max-tokens 50 --run-id lab-cmmlu-dev -q
