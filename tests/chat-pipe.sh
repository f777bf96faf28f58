#!/bin/sh
# `socfw chat` from a pipe: train configs/chat-demo.yaml very briefly, pipe
# lines into chat, expect one stdout line per input line (and nothing else
# on stdout), and a session that persists across invocations (--session).
set -eu
src=${SOCFW_SRCDIR:?}
build=${SOCFW_BUILDDIR:?}
tmp=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
socfw=$build/socfw
yaml=$src/configs/chat-demo.yaml

# a tiny version of the demo: few pretraining steps, one short epoch
sets="--set output.dir=$tmp/run --set pretrain.steps=8
      --set pretrain.batch_size=4 --set train.epochs=1 --set train.max_steps=6
      --set tasks.sentiment.data.max_rows=40 --set tasks.reply.data.max_rows=40
      --set tasks.reply.sessions=$tmp/sessions.db
      --set tasks.reply.max_reply_tokens=8 --set threads=1"
# shellcheck disable=SC2086
"$socfw" run "$yaml" $sets >"$tmp/run.log" 2>&1 ||
        { tail -20 "$tmp/run.log"; fail "socfw run"; }
test -f "$tmp/run/checkpoint/model.safetensors" || fail "no checkpoint"

chat() {
        # shellcheck disable=SC2086
        "$socfw" chat "$yaml" $sets "$@" 2>>"$tmp/chat.err"
}

# no run yet for another output directory: a clear error, not training
if "$socfw" chat "$yaml" --output-dir "$tmp/none" </dev/null \
        >"$tmp/out0" 2>"$tmp/err0"; then
        fail "chat without a trained model succeeded"
fi
grep -q "no trained model" "$tmp/err0" || { cat "$tmp/err0"; fail "message"; }

# two messages -> exactly two lines on stdout
printf 'my order is late again\nthanks, that was quick!\n' |
        chat --session alice >"$tmp/out1" || { cat "$tmp/chat.err"; fail "chat 1"; }
test "$(wc -l <"$tmp/out1")" -eq 2 || { cat "$tmp/out1"; fail "want 2 lines"; }
grep -q "session alice is new" "$tmp/chat.err" || fail "not announced as new"

# the session persists: /history counts the four turns, then six
printf '/history\n' | chat --session alice >"$tmp/h1" || fail "history 1"
grep -q '"session":"alice","turns":4,' "$tmp/h1" || { cat "$tmp/h1"; fail "4 turns"; }
grep -q '"label":"negative"' "$tmp/h1" || { cat "$tmp/h1"; fail "no sentiment label"; }
printf 'where is my parcel?\n/history\n' | chat --session alice >"$tmp/h2" ||
        fail "chat 2"
test "$(wc -l <"$tmp/h2")" -eq 2 || { cat "$tmp/h2"; fail "want 2 lines"; }
grep -q '"turns":6,' "$tmp/h2" || { cat "$tmp/h2"; fail "6 turns"; }
grep -q "session alice continues (4 turns" "$tmp/chat.err" || fail "continue"

# PII is masked before the dialog stage and so in the stored history
printf 'mail me at dana@example.com\n/history\n' |
        chat --session bob --show-prompt >"$tmp/h3" || fail "chat 3"
grep -q "dana@example.com" "$tmp/h3" && fail "PII reached the session"
grep -q "^User: mail me at " "$tmp/chat.err" || fail "--show-prompt"

# bad input: an invalid UTF-8 line and an empty line fail alone, the
# output stays aligned, and nothing is stored for them
printf 'caf\303\n\nhello\n' | chat --session carol >"$tmp/out4" &&
        fail "bad lines did not fail"
test "$(wc -l <"$tmp/out4")" -eq 3 || { cat "$tmp/out4"; fail "alignment"; }
grep -q "valid UTF-8" "$tmp/chat.err" || fail "UTF-8 message"
printf '/history\n/reset\n/history\n' | chat --session carol >"$tmp/h5" ||
        fail "reset"
head -1 "$tmp/h5" | grep -q '"turns":2,' || { cat "$tmp/h5"; fail "carol 2"; }
tail -1 "$tmp/h5" | grep -q '"turns":0,' || { cat "$tmp/h5"; fail "carol 0"; }

# a corrupt session database: a clear error and the file untouched
echo "precious, not a database" >"$tmp/bad.db"
cp "$tmp/bad.db" "$tmp/bad.copy"
echo hi | "$socfw" chat "$yaml" $sets --set tasks.reply.sessions="$tmp/bad.db" \
        --session x >"$tmp/out6" 2>"$tmp/err6" && fail "corrupt db accepted"
grep -q "not an SQLite database" "$tmp/err6" || { cat "$tmp/err6"; fail "db msg"; }
cmp -s "$tmp/bad.db" "$tmp/bad.copy" || fail "corrupt db was modified"
# a command chat does not know is answered here, never sent to the model;
# //text sends a message that starts with /
printf '/foo bar\n//slash\n/history\n' | chat --session dave >"$tmp/out7" &&
        fail "an unknown command did not fail"
test "$(wc -l <"$tmp/out7")" -eq 3 || { cat "$tmp/out7"; fail "alignment"; }
head -1 "$tmp/out7" | grep -q '^$' || { cat "$tmp/out7"; fail "want an empty line"; }
grep -q "unknown chat command '/foo'" "$tmp/chat.err" || fail "no local answer"
tail -1 "$tmp/out7" | grep -q '"turns":2,.*"text":"/slash"' ||
        { cat "$tmp/out7"; fail "//slash not sent as /slash (only)"; }

# the finished run directory stands for the pipeline
echo "hello there" | "$socfw" chat "$tmp/run" --session erin \
        >"$tmp/out8" 2>>"$tmp/chat.err" || { tail "$tmp/chat.err"; fail "chat RUN"; }
test "$(wc -l <"$tmp/out8")" -eq 1 || fail "chat RUN: want 1 line"

# on a terminal: line editing, and the detected mood after each reply
if command -v python3 >/dev/null; then
        python3 - "$socfw" "$tmp/run" <<'PY' || fail "chat on a terminal"
import os, pty, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "chat", sys.argv[2], "--no-stream"])
out = b""
def read_until(marker, limit=120):
    global out
    end = time.time() + limit
    while marker not in out and time.time() < end:
        try:
            out += os.read(fd, 4096)
        except OSError:
            break
    return marker in out
assert read_until(b"you> "), out
os.write(fd, b"this is awful, I hate it\r")
assert read_until(b"(your mood: "), out
os.write(fd, b"/quit\r")
os.waitpid(pid, 0)
PY
fi
echo "chat-pipe: ok"
