#!/bin/sh
# A non-Python "trainer" for `watch` tests: prints `step N loss X`, then (with "stall") sleeps.
i=1
while [ $i -le 20 ]; do
  echo "step $i loss $((100 - i)).5"
  i=$((i + 1))
  sleep 0.02
done
if [ "$1" = "stall" ]; then
  sleep 3600
fi
