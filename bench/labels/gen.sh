#!/bin/bash
# generation of the embedded model's answers for the issue-14 labelled set
cd /work/wt/i14
export PYTHONPATH=$PWD
DB=/tmp/i14-labels.db
S=/work/shared/data
medgap run --db $DB -m local/default --suite $S/cmmlu_medical/test --limit 5 --choice-mode generate --max-tokens 200 --run-id lab-cmmlu -q
medgap run --db $DB -m local/default --suite $S/mtcmb/TCM-ED-A.jsonl --format mtcmb --limit 15 --choice-mode generate --max-tokens 200 --run-id lab-eda -q
medgap run --db $DB -m local/default --suite $S/mtcmb/TCM-SE-A.jsonl --format mtcmb --limit 10 --max-tokens 100 --run-id lab-sea -q
medgap run --db $DB -m local/default --suite $S/mtcmb/TCM-FT.jsonl --format mtcmb --limit 10 --max-tokens 300 --run-id lab-ft -q
medgap run --db $DB -m local/default --suite $S/cmb_clin/CMB-test-qa.json --format cmb_clin --limit 14 --max-tokens 300 --run-id lab-clin -q
echo done
