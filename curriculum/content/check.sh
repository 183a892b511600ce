#!/usr/bin/env bash
# Checks every exercise of the curriculum on this host.
#
# For each exercise it assembles, in temporary folders under /tmp:
#   solution = starter overlaid by solution   + tests/visible   and   + tests/hidden
#   starter  = starter                        + tests/visible   and   + tests/hidden
# runs them the way the grader does (mocha / pytest / io cases), and prints one line per exercise
# with the solution's and the starter's score. It also runs each exercise's `run` command once
# (starter and solution) to make sure it does not crash.
#
# Exit status: 0 when every solution scores 100% and every starter scores below 100% (and nothing
# else went wrong), 1 otherwise.
#
# Usage: curriculum/content/check.sh [-v] [--image IMAGE] [EXERCISE-ID ...]
#   -v             print the test runner's output for every run that did not score 100% on a solution
#   --image IMAGE  run every test run inside IMAGE (e.g. outpost/workspace:latest) the way the
#                  grader does: the folder mounted read-only as the working directory, only /tmp
#                  writable, no network, as the student user. Needs docker. Without it, everything
#                  runs on this host.
#
# Environment: OUTPOST_NODE_MODULES (default /work/main/node_modules) must hold mocha, chai and
# express. If it has no supertest, a small stand-in (node:http + fetch against app.listen(0)) that
# covers the part of supertest the exercises use is put in front of it for this run only.
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NM=${OUTPOST_NODE_MODULES:-/work/main/node_modules}
MOCHA="$NM/.bin/mocha"
VERBOSE=0
IMAGE=""
while [ $# -gt 0 ]; do
  case "$1" in
    -v) VERBOSE=1; shift ;;
    --image) IMAGE=${2:?--image needs an image name}; shift 2 ;;
    *) break ;;
  esac
done
ONLY=("$@")

export PYTHONDONTWRITEBYTECODE=1
export NO_COLOR=1
export PORT=0

for tool in python3 node; do
  command -v "$tool" >/dev/null || { echo "check.sh: $tool is not installed" >&2; exit 2; }
done
if [ -z "$IMAGE" ]; then
  [ -x "$MOCHA" ] || { echo "check.sh: no mocha at $MOCHA (set OUTPOST_NODE_MODULES)" >&2; exit 2; }
else
  command -v docker >/dev/null || { echo "check.sh: --image needs docker" >&2; exit 2; }
fi
python3 -c 'import yaml, pytest' 2>/dev/null || { echo "check.sh: python3 needs PyYAML and pytest" >&2; exit 2; }

ROOT=$(mktemp -d /tmp/outpost-curriculum-check.XXXXXX)
cleanup() { rm -rf -- "$ROOT"; }
trap cleanup EXIT

# ---------------------------------------------------------------- node_modules for the JS runs
mkdir -p "$ROOT/out" && chmod 777 "$ROOT/out"
if [ -n "$IMAGE" ]; then
  :   # the image links its tools at /node_modules
elif [ -d "$NM/supertest" ]; then
  ln -s "$NM" "$ROOT/node_modules"
else
  echo "note: no supertest in $NM; web exercises run against a node:http + fetch stand-in" >&2
  mkdir -p "$ROOT/node_modules/supertest"
  for entry in "$NM"/* "$NM"/.bin; do
    ln -s "$entry" "$ROOT/node_modules/$(basename "$entry")"
  done
  cat > "$ROOT/node_modules/supertest/package.json" <<'JSON'
{ "name": "supertest", "version": "0.0.0-outpost-check", "type": "module", "main": "index.js" }
JSON
  cat > "$ROOT/node_modules/supertest/index.js" <<'JS'
// Stand-in for the part of supertest the exercises use: request(app).get|post|put|patch|delete(path)
// .set(name, value) .send(body) .query(obj), awaited; the response has status, statusCode, text,
// body (parsed JSON when the response is JSON, else {}), headers (lower-case) and type.
import http from 'node:http';

class Test {
  constructor(app, method, path) {
    this.app = app; this.method = method; this.path = path; this.headers = {}; this.payload = undefined; this.params = null;
  }
  set(name, value) {
    if (typeof name === 'object') { for (const [k, v] of Object.entries(name)) this.headers[k.toLowerCase()] = String(v); }
    else this.headers[name.toLowerCase()] = String(value);
    return this;
  }
  query(obj) { this.params = { ...(this.params ?? {}), ...obj }; return this; }
  send(data) {
    if (typeof data === 'object' && data !== null) {
      this.payload = JSON.stringify(data);
      this.headers['content-type'] ??= 'application/json';
    } else {
      this.payload = String(data);
      this.headers['content-type'] ??= 'application/x-www-form-urlencoded';
    }
    return this;
  }
  then(resolve, reject) { return this.run().then(resolve, reject); }
  catch(reject) { return this.run().catch(reject); }
  async run() {
    const server = typeof this.app === 'function' ? http.createServer(this.app) : this.app;
    if (!server.listening) await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
    try {
      const { port } = server.address();
      let url = `http://127.0.0.1:${port}${this.path}`;
      if (this.params) url += (url.includes('?') ? '&' : '?') + new URLSearchParams(this.params).toString();
      const response = await fetch(url, { method: this.method.toUpperCase(), headers: this.headers, body: this.payload, redirect: 'manual' });
      const text = await response.text();
      const headers = Object.fromEntries(response.headers.entries());
      const type = (headers['content-type'] ?? '').split(';')[0].trim();
      let body = {};
      if (/json/.test(type) && text !== '') body = JSON.parse(text);
      return { status: response.status, statusCode: response.status, ok: response.ok, text, body, headers, header: headers, type };
    } finally {
      server.closeAllConnections?.();
      await new Promise((ok) => server.close(() => ok()));
    }
  }
}

export default function request(app) {
  const make = (method) => (path) => new Test(app, method, path);
  return { get: make('get'), post: make('post'), put: make('put'), patch: make('patch'), delete: make('delete'), del: make('delete'), head: make('head') };
}
JS
fi

# ---------------------------------------------------------------- the Python half (YAML, scoring, io)
HELPER="$ROOT/helper.py"
cat > "$HELPER" <<'PY'
import json, os, subprocess, sys, xml.etree.ElementTree as ET
import yaml

def load(path):
    with open(path) as f:
        return yaml.safe_load(f)

def shq(s):
    return "'" + str(s).replace("'", "'\"'\"'") + "'"

def meta(path):
    y = load(path)
    g = y.get('grader', {})
    print(f"EX_ID={shq(y['id'])}")
    print(f"ADAPTER={shq(g.get('adapter', ''))}")
    print(f"TIME_LIMIT={shq(g.get('timeLimitSeconds', 10))}")
    print(f"RUN_CMD=({' '.join(shq(a) for a in y.get('run', []))})")

def results_mocha(path):
    out = {}
    try:
        with open(path) as f:
            data = json.load(f)
    except Exception:
        return out
    for t in data.get('passes', []):
        out[t['fullTitle']] = True
    for t in data.get('failures', []) + data.get('pending', []):
        # a failing hook shows up as '"before each" hook for ...': not a test of its own
        if '" hook' in t.get('title', ''):
            continue
        out.setdefault(t['fullTitle'], False)
    return out

def results_pytest(path):
    out = {}
    try:
        root = ET.parse(path).getroot()
    except Exception:
        return out
    for case in root.iter('testcase'):
        # the grader names pytest tests by node id: test_file.py::test_name
        name = case.get('classname', '').replace('.', '/') + '.py::' + case.get('name')
        failed = any(child.tag in ('failure', 'error', 'skipped') for child in case)
        out[name] = not failed
    return out

def normalize(text):
    lines = [line.rstrip() for line in text.replace('\r\n', '\n').split('\n')]
    while lines and lines[-1] == '':
        lines.pop()
    return '\n'.join(lines)

def run_io(yaml_path, folder, which, out_path):
    y = load(yaml_path)
    g = y.get('grader', {})
    limit = g.get('timeLimitSeconds', 10)
    results, log = {}, []
    for case in y.get('cases', []):
        if bool(case.get('hidden', False)) != (which == 'hidden'):
            continue
        command = y['command']
        if os.environ.get('CHECK_IMAGE'):
            command = ['docker', 'run', '--rm', '-i', '--network', 'none', '--read-only', '--tmpfs', '/tmp',
                       '--user', '1000:1000', '--entrypoint', '', '-e', 'HOME=/tmp', '-e', 'PYTHONDONTWRITEBYTECODE=1',
                       '-v', f'{folder}:/submission:ro', '-w', '/submission', os.environ['CHECK_IMAGE'], *command]
        try:
            p = subprocess.run(command, cwd=folder, input=case.get('stdin', ''), capture_output=True, text=True, timeout=limit)
            ok = normalize(p.stdout) == normalize(case['expected'])
            if not ok:
                log.append(f"--- case {case['name']!r}: expected\n{case['expected']}\n--- got (exit {p.returncode})\n{p.stdout}{p.stderr}")
        except subprocess.TimeoutExpired:
            ok = False
            log.append(f"--- case {case['name']!r}: time limit")
        results[case['name']] = ok
    with open(out_path, 'w') as f:
        json.dump(results, f)
    print('\n'.join(log))

def points_for(y, title):
    g = y.get('grader', {})
    if g.get('adapter') == 'io':
        for case in y.get('cases', []):
            if case['name'] == title:
                return case.get('points', g.get('pointsPerTest', 1))
    return (g.get('points') or {}).get(title, g.get('pointsPerTest', 1))

def summary(yaml_path, adapter, sol_vis, sol_hid, st_vis, st_hid):
    y = load(yaml_path)
    reader = {'mocha': results_mocha, 'pytest': results_pytest}.get(adapter)
    def read(p):
        if reader:
            return reader(p)
        try:
            with open(p) as f:
                return json.load(f)
        except Exception:
            return {}
    sv, sh, tv, th = read(sol_vis), read(sol_hid), read(st_vis), read(st_hid)
    problems = []
    def score(sol, st, label):
        total = sum(points_for(y, t) for t in sol)
        got_sol = sum(points_for(y, t) for t, ok in sol.items() if ok)
        got_st = sum(points_for(y, t) for t, ok in st.items() if ok and t in sol)
        n = len(sol)
        return total, got_sol, got_st, n
    vt, vs, vst, vn = score(sv, tv, 'visible')
    ht, hs, hst, hn = score(sh, th, 'hidden')
    if not (3 <= vn <= 8): problems.append(f'{vn} visible tests (want 3-8)')
    if not (2 <= hn <= 6): problems.append(f'{hn} hidden tests (want 2-6)')
    for title in (y.get('grader', {}).get('points') or {}):
        if title not in sv and title not in sh:
            problems.append(f'grader.points names no test: {title!r}')
    overlap = set(sv) & set(sh)
    if overlap: problems.append(f'visible and hidden tests share titles: {sorted(overlap)}')
    total = vt + ht
    sol_pct = 100 * (vs + hs) / total if total else 0
    st_pct = 100 * (vst + hst) / total if total else 0
    ok = total > 0 and vs + hs == total and vst + hst < total and not problems
    line = (f"{'ok  ' if ok else 'FAIL'} {y['id']:<28} solution {sol_pct:5.1f}% ({vs + hs}/{total} pts; "
            f"visible {vs}/{vt}, hidden {hs}/{ht})   starter {st_pct:5.1f}% ({vst + hst}/{total} pts)")
    if problems: line += '   ' + '; '.join(problems)
    if vs + hs < total:
        failed = [t for t, r in {**sv, **sh}.items() if not r]
        line += '\n       solution fails: ' + '; '.join(failed)
    print(line)
    sys.exit(0 if ok else 1)

def structure(root):
    """Checks the layout and the metadata of the whole curriculum. Prints one line per problem."""
    import re
    problems = []
    def bad(where, what):
        problems.append(f'{os.path.relpath(where, root)}: {what}')
    ID = re.compile(r'^[a-z0-9]+(?:-[a-z0-9]+)*$')
    DOCS = ('https://nodejs.org/api/', 'https://docs.python.org/3/', 'https://git-scm.com/docs/')
    PREFIX = {'javascript-foundations': 'js-', 'web-node-express': 'web-', 'python-foundations': 'py-'}
    seen = {}
    def unique(kind, ident, where):
        key = (kind, ident)
        if key in seen:
            bad(where, f'{kind} id {ident!r} is also used in {os.path.relpath(seen[key], root)}')
        seen[key] = where
    def need(d, keys, where):
        for k in keys:
            if k not in d:
                bad(where, f'missing key {k!r}')
    def listdirs(path):
        return sorted(n for n in os.listdir(path) if os.path.isdir(os.path.join(path, n)))

    cur_path = os.path.join(root, 'curriculum.yaml')
    cur = load(cur_path)
    need(cur, ['id', 'title', 'version', 'tracks'], cur_path)
    if cur.get('id') != 'outpost-starter': bad(cur_path, 'id must be outpost-starter')
    if cur.get('version') != 1: bad(cur_path, 'version must be 1')
    tracks = cur.get('tracks') or []
    for extra in set(listdirs(root)) - set(tracks):
        bad(os.path.join(root, extra), 'folder is not a track listed in curriculum.yaml')
    for t in tracks:
        tdir = os.path.join(root, t)
        tpath = os.path.join(tdir, 'track.yaml')
        if not os.path.isfile(tpath):
            bad(tdir, 'track.yaml is missing'); continue
        track = load(tpath)
        need(track, ['id', 'title', 'summary', 'modules'], tpath)
        if track.get('id') != t: bad(tpath, f'id {track.get("id")!r} is not the folder name {t!r}')
        if not ID.match(str(t)): bad(tpath, 'id is not lowercase letters, digits and -')
        unique('track', t, tpath)
        modules = track.get('modules') or []
        for extra in set(listdirs(tdir)) - set(modules):
            bad(os.path.join(tdir, extra), 'folder is not a module listed in track.yaml')
        for m in modules:
            mdir = os.path.join(tdir, m)
            mpath = os.path.join(mdir, 'module.yaml')
            if not os.path.isfile(mpath):
                bad(mdir, 'module.yaml is missing'); continue
            mod = load(mpath)
            need(mod, ['id', 'title', 'summary', 'items'], mpath)
            if mod.get('id') != m: bad(mpath, f'id {mod.get("id")!r} is not the folder name {m!r}')
            if not ID.match(str(m)): bad(mpath, 'id is not lowercase letters, digits and -')
            unique('module', m, mpath)
            lessons, exercises = [], []
            for item in mod.get('items') or []:
                if not isinstance(item, dict) or len(item) != 1 or not ({'lesson', 'exercise'} & set(item)):
                    bad(mpath, f'item {item!r} must be {{lesson: stem}} or {{exercise: id}}'); continue
                (lessons if 'lesson' in item else exercises).append(str(item.get('lesson', item.get('exercise'))))
            if not 1 <= len(lessons) <= 3: bad(mpath, f'{len(lessons)} lessons (want 1-3)')
            ldir = os.path.join(mdir, 'lessons')
            on_disk = sorted(n[:-3] for n in os.listdir(ldir) if n.endswith('.md')) if os.path.isdir(ldir) else []
            for extra in set(on_disk) - set(lessons): bad(os.path.join(ldir, extra + '.md'), 'lesson is not listed in module.yaml')
            for stem in lessons:
                lpath = os.path.join(ldir, stem + '.md')
                if not os.path.isfile(lpath): bad(lpath, 'lesson file is missing'); continue
                text = open(lpath, encoding='utf-8').read()
                fm = re.match(r'^---\n(.*?)\n---\n', text, re.S)
                if not fm: bad(lpath, 'no front matter between --- lines'); continue
                meta = yaml.safe_load(fm.group(1)) or {}
                need(meta, ['id', 'title', 'minutes', 'docs'], lpath)
                if not ID.match(str(meta.get('id', ''))): bad(lpath, 'id is not lowercase letters, digits and -')
                unique('lesson', meta.get('id'), lpath)
                if not isinstance(meta.get('minutes'), int) or meta['minutes'] <= 0: bad(lpath, 'minutes must be a positive whole number')
                docs = meta.get('docs') or []
                if not docs: bad(lpath, 'docs is empty')
                for url in docs:
                    if not str(url).startswith(DOCS): bad(lpath, f'{url} is not a mirrored documentation URL')
                for url in re.findall(r'https?://[^\s)>\]`"]+', text[fm.end():]):
                    url = url.rstrip('.,;:')
                    host = url.split('/')[2]
                    if host.split(':')[0] not in ('nodejs.org', 'docs.python.org', 'git-scm.com', 'git.outpost', 'search.outpost', 'localhost', '127.0.0.1'):
                        bad(lpath, f'links to {url}, which is not on the inside network')
            edir = os.path.join(mdir, 'exercises')
            on_disk = listdirs(edir) if os.path.isdir(edir) else []
            for extra in set(on_disk) - set(exercises): bad(os.path.join(edir, extra), 'exercise is not listed in module.yaml')
            for ex in exercises:
                xdir = os.path.join(edir, ex)
                xpath = os.path.join(xdir, 'exercise.yaml')
                if not os.path.isfile(xpath): bad(xdir, 'exercise.yaml is missing'); continue
                y = load(xpath)
                need(y, ['id', 'title', 'language', 'instructions', 'grader', 'run'], xpath)
                if y.get('id') != ex: bad(xpath, f'id {y.get("id")!r} is not the folder name {ex!r}')
                if not ID.match(str(ex)): bad(xpath, 'id is not lowercase letters, digits and -')
                if t in PREFIX and not str(ex).startswith(PREFIX[t]): bad(xpath, f'exercise ids in {t} start with {PREFIX[t]}')
                unique('exercise', ex, xpath)
                if y.get('language') not in ('javascript', 'python'): bad(xpath, 'language must be javascript or python')
                if not os.path.isfile(os.path.join(xdir, str(y.get('instructions')))): bad(xpath, 'the instructions file is missing')
                g = y.get('grader') or {}
                need(g, ['adapter', 'timeLimitSeconds', 'pointsPerTest', 'points', 'attempts', 'showHiddenMessages'], xpath)
                adapter = g.get('adapter')
                if adapter not in ('mocha', 'pytest', 'io'): bad(xpath, f'unknown adapter {adapter!r}')
                if not isinstance(g.get('points'), dict): bad(xpath, 'grader.points must be a mapping')
                if not isinstance(y.get('run'), list) or not y.get('run'): bad(xpath, 'run must be a non-empty list')
                for sub in ('starter', 'solution', 'tests/visible', 'tests/hidden'):
                    if not os.path.isdir(os.path.join(xdir, sub)): bad(xdir, f'{sub}/ is missing')
                for dirpath, dirnames, _ in os.walk(xdir):
                    if 'node_modules' in dirnames or '__pycache__' in dirnames:
                        bad(dirpath, 'ships node_modules or __pycache__')
                vis, hid = os.path.join(xdir, 'tests/visible'), os.path.join(xdir, 'tests/hidden')
                if adapter == 'mocha':
                    pkg_path = os.path.join(xdir, 'starter/package.json')
                    try:
                        pkg = json.load(open(pkg_path))
                        if pkg.get('type') != 'module' or (pkg.get('scripts') or {}).get('test') != 'mocha':
                            bad(pkg_path, 'needs "type": "module" and "scripts": {"test": "mocha"}')
                    except Exception as e:
                        bad(pkg_path, f'unreadable: {e}')
                    for d in (vis, hid):
                        files = os.listdir(os.path.join(d, 'test')) if os.path.isdir(os.path.join(d, 'test')) else []
                        if not any(f.endswith('.test.js') for f in files): bad(d, 'no test/*.test.js')
                    v = set(os.listdir(os.path.join(vis, 'test'))) if os.path.isdir(os.path.join(vis, 'test')) else set()
                    h = set(os.listdir(os.path.join(hid, 'test'))) if os.path.isdir(os.path.join(hid, 'test')) else set()
                    if v & h: bad(xdir, f'visible and hidden test files share names: {sorted(v & h)}')
                elif adapter == 'pytest':
                    for d in (vis, hid):
                        if not any(f.startswith('test_') and f.endswith('.py') for f in os.listdir(d)): bad(d, 'no test_*.py')
                    if set(os.listdir(vis)) & set(os.listdir(hid)): bad(xdir, 'visible and hidden test files share names')
                elif adapter == 'io':
                    if not isinstance(y.get('command'), list): bad(xpath, 'io exercises need command: [...]')
                    cases = y.get('cases') or []
                    names = [c.get('name') for c in cases]
                    if len(set(names)) != len(names): bad(xpath, 'case names repeat')
                    for c in cases:
                        need(c, ['name', 'stdin', 'expected', 'hidden', 'points'], xpath)
                        if not c.get('hidden'):
                            ex_in = os.path.join(vis, 'examples', f"{c['name']}.txt")
                            ex_out = os.path.join(vis, 'examples', f"{c['name']}.expected.txt")
                            if not (os.path.isfile(ex_in) and open(ex_in).read() == c['stdin']
                                    and os.path.isfile(ex_out) and open(ex_out).read() == c['expected']):
                                bad(xdir, f"examples/{c['name']}(.expected).txt do not match the case in exercise.yaml")
    for p in problems:
        print('FAIL structure: ' + p)
    counts = {}
    for (kind, _), _ in seen.items():
        counts[kind] = counts.get(kind, 0) + 1
    print(f"structure: {counts.get('track', 0)} tracks, {counts.get('module', 0)} modules, "
          f"{counts.get('lesson', 0)} lessons, {counts.get('exercise', 0)} exercises, {len(problems)} problems")
    sys.exit(1 if problems else 0)

cmd = sys.argv[1]
if cmd == 'structure': structure(sys.argv[2])
elif cmd == 'meta': meta(sys.argv[2])
elif cmd == 'io': run_io(*sys.argv[2:6])
elif cmd == 'summary': summary(*sys.argv[2:8])
PY

# in_box FOLDER CMD...: runs CMD in FOLDER, on this host or (--image) in a fresh container
in_box() {
  local folder=$1; shift
  if [ -z "$IMAGE" ]; then
    (cd "$folder" && "$@")
  else
    docker run --rm -i --network none --read-only --tmpfs /tmp:exec --user 1000:1000 --entrypoint "" \
      -e HOME=/tmp -e NO_COLOR=1 -e PORT=0 -e PYTHONDONTWRITEBYTECODE=1 \
      -v "$folder:/submission:ro" -v "$ROOT/out:/out" -w /submission "$IMAGE" "$@"
  fi
}

# ---------------------------------------------------------------- one run of one folder
# run_tests ADAPTER FOLDER RESULT-FILE EXERCISE-YAML WHICH(visible|hidden) TIME-LIMIT
run_tests() {
  local adapter=$1 folder=$2 result=$3 yaml=$4 which=$5 limit=$6 log="$3.log"
  case "$adapter" in
    mocha)
      if [ -z "$IMAGE" ]; then
        in_box "$folder" timeout "$limit" "$MOCHA" --reporter json --reporter-option "output=$result" >"$log" 2>&1
      else
        in_box "$folder" timeout "$limit" mocha --reporter json --reporter-option "output=/out/$(basename "$result")" >"$log" 2>&1
        mv "$ROOT/out/$(basename "$result")" "$result" 2>/dev/null
      fi ;;
    pytest)
      if [ -z "$IMAGE" ]; then
        in_box "$folder" timeout "$limit" python3 -m pytest -p no:cacheprovider -q --junitxml="$result" >"$log" 2>&1
      else
        in_box "$folder" timeout "$limit" python3 -m pytest -p no:cacheprovider -q --junitxml="/out/$(basename "$result")" >"$log" 2>&1
        mv "$ROOT/out/$(basename "$result")" "$result" 2>/dev/null
      fi ;;
    io)
      CHECK_IMAGE="$IMAGE" CHECK_OUT="$ROOT/out" python3 "$HELPER" io "$yaml" "$folder" "$which" "$result" >"$log" 2>&1 ;;
    *) echo "unknown adapter $adapter" >"$log" ;;
  esac
}

# assemble VARIANT(solution|starter) WHICH(visible|hidden) EXERCISE-DIR -> folder path on stdout
assemble() {
  local variant=$1 which=$2 ex=$3 dir
  dir=$(mktemp -d "$ROOT/run.XXXXXX")
  cp -R "$ex/starter/." "$dir/"
  if [ "$variant" = solution ]; then cp -R "$ex/solution/." "$dir/"; fi
  if [ "$ADAPTER" != io ]; then cp -R "$ex/tests/$which/." "$dir/"; fi
  if [ -z "$IMAGE" ] && { [ "$ADAPTER" = mocha ] || [ -f "$dir/package.json" ]; }; then ln -s "$ROOT/node_modules" "$dir/node_modules"; fi
  chmod -R a+rX "$dir"
  echo "$dir"
}

status=0
count=0
# The layout and metadata of the whole curriculum (ids, files, front matter, docs links).
python3 "$HELPER" structure "$HERE" || status=1
mapfile -t YAMLS < <(find "$HERE" -path '*/exercises/*/exercise.yaml' | sort)
# keep curriculum order: track order, module order, item order
mapfile -t ORDERED < <(python3 - "$HERE" <<'PY'
import sys, os, yaml
root = sys.argv[1]
cur = yaml.safe_load(open(os.path.join(root, 'curriculum.yaml')))
for t in cur['tracks']:
    try:
        track = yaml.safe_load(open(os.path.join(root, t, 'track.yaml')))
    except Exception as e:
        print(f'{root}/{t}/track.yaml (unreadable: {e})'.replace('\n', ' '))
        continue
    for m in track['modules']:
        try:
            mod = yaml.safe_load(open(os.path.join(root, t, m, 'module.yaml')))
        except Exception as e:
            print(f'{root}/{t}/{m}/module.yaml (unreadable: {e})'.replace('\n', ' '))
            continue
        for item in mod['items']:
            if 'exercise' in item:
                print(os.path.join(root, t, m, 'exercises', item['exercise'], 'exercise.yaml'))
PY
)
if [ "${#ORDERED[@]}" -ne "${#YAMLS[@]}" ]; then
  echo "FAIL modules list ${#ORDERED[@]} exercises but ${#YAMLS[@]} exercise.yaml files exist" >&2
  status=1
fi

for yaml in "${ORDERED[@]}"; do
  ex=$(dirname "$yaml")
  if [ ! -f "$yaml" ]; then echo "FAIL $(basename "$ex"): listed in module.yaml but $yaml is missing"; status=1; continue; fi
  if ! meta=$(python3 "$HELPER" meta "$yaml" 2>&1); then
    echo "FAIL $(basename "$ex"): cannot read exercise.yaml: $(echo "$meta" | tail -2 | tr '\n' ' ')"
    status=1; continue
  fi
  eval "$meta"
  if [ "${#ONLY[@]}" -gt 0 ] && [[ ! " ${ONLY[*]} " =~ " $EX_ID " ]]; then continue; fi
  count=$((count + 1))
  declare -A RES=()
  for variant in solution starter; do
    for which in visible hidden; do
      folder=$(assemble "$variant" "$which" "$ex")
      RES[$variant-$which]="$ROOT/$EX_ID-$variant-$which.result"
      run_tests "$ADAPTER" "$folder" "${RES[$variant-$which]}" "$yaml" "$which" "$TIME_LIMIT"
    done
  done
  if ! python3 "$HELPER" summary "$yaml" "$ADAPTER" "${RES[solution-visible]}" "${RES[solution-hidden]}" "${RES[starter-visible]}" "${RES[starter-hidden]}"; then
    status=1
    if [ "$VERBOSE" = 1 ]; then cat "${RES[solution-visible]}.log" "${RES[solution-hidden]}.log" | sed 's/^/       | /'; fi
  fi
  # The Run button: must not crash on the starter or the solution (a server still running after
  # 3 seconds is fine). io exercises read stdin; they are run by their cases instead.
  if [ "$ADAPTER" != io ] && [ "${#RUN_CMD[@]}" -gt 0 ]; then
    for variant in starter solution; do
      folder=$(assemble "$variant" visible "$ex")
      in_box "$folder" timeout 3 "${RUN_CMD[@]}" </dev/null >"$ROOT/run.log" 2>&1
      rc=$?
      if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; then
        echo "FAIL $EX_ID: the run command (${RUN_CMD[*]}) exits with $rc on the $variant:"
        sed 's/^/       | /' "$ROOT/run.log" | head -20
        status=1
      fi
    done
  fi
  unset RES
done

echo "checked $count exercises: $([ $status = 0 ] && echo 'all good' || echo 'PROBLEMS above')"
exit $status
