#!/usr/bin/env bash
# The README's first command on a base install, as a new user runs it: a fresh virtual
# environment with no extras, `bash scripts/demo.sh --size tiny` end to end (serve-check
# included, its report pages), then `vdgray serve` on what the demo wrote, answering a real
# POST /search, the search page and a thumbnail: the README's quickstart.
# A module that only the dev extra brings fails here, whatever the test suite says.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export VDGRAY_UNLOCKED=0  # install the exact versions of requirements/lock-*.txt
work="$(mktemp -d -t vdgray-base-XXXXXX)"
export VDGRAY_VENV="$work/venv"
server=""
cleanup() {
  if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
    kill -TERM "$server" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$server" 2>/dev/null || break; sleep 1; done
    kill -9 "$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "[base-install] bash scripts/demo.sh --size tiny (fresh base venv $VDGRAY_VENV)"
bash scripts/demo.sh --size tiny --num-cpus 2 --output "$work/demo" 2>&1 | tee "$work/demo.log"
grep -q "pipeline finished" "$work/demo.log"
grep -q "serve-check: target in top-10 for" "$work/demo.log"
for page in triplets eval; do  # the pages the demo's last lines name
  grep -q "$page: $work/demo/reports/$page.html" "$work/demo.log"
  grep -q 'src="data:image/jpeg' "$work/demo/reports/$page.html"
done
lines=$(wc -l <"$work/demo.log")
echo "[base-install] the tiny demo printed $lines lines"

py="$VDGRAY_VENV/bin/python"
port="$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$VDGRAY_VENV/bin/vdgray" serve --model "$work/demo/cir/model" --index "$work/demo/index" \
  --port "$port" --set ray.num_cpus=2 >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 180); do
  grep -q "retriever ready at" "$work/serve.log" && break
  kill -0 "$server" 2>/dev/null || { cat "$work/serve.log"; echo "vdgray serve exited" >&2; exit 1; }
  sleep 1
done
grep -q "retriever ready at" "$work/serve.log" || { cat "$work/serve.log"; exit 1; }
"$py" - "$port" "$work/demo/index" <<'PY'
import json, sys, urllib.request
import pyarrow.parquet as pq

port, index = sys.argv[1], sys.argv[2]
image_id = pq.read_table(f"{index}/ids.parquet").column("image_id")[0].as_py()
body = json.dumps({"image_id": image_id, "text": "make it red", "k": 3}).encode()
req = urllib.request.Request(f"http://127.0.0.1:{port}/search", data=body,
                             headers={"Content-Type": "application/json"})
answer = json.load(urllib.request.urlopen(req, timeout=60))
assert len(answer["results"]) == 3, answer
print(f"[base-install] vdgray serve answered POST /search: {answer['results']}")
page = urllib.request.urlopen(f"http://127.0.0.1:{port}/ui", timeout=60)
assert page.status == 200 and b'id="results"' in page.read()
thumb = urllib.request.urlopen(f"http://127.0.0.1:{port}/images/{image_id}?size=64", timeout=60)
assert thumb.status == 200 and thumb.headers["Content-Type"] == "image/jpeg"
print("[base-install] the search page and a thumbnail answered: GET /ui, GET /images/...")
PY
kill -TERM "$server"  # what Kubernetes sends: the service must stop cleanly
code=0; wait "$server" || code=$?
server=""
cat "$work/serve.log"
[ "$code" = 0 ] || { echo "vdgray serve exited with $code on SIGTERM" >&2; exit 1; }
echo "[base-install] passed"
