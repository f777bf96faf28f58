"""tests/webui_cdp.py BROWSER URL SHOT.png PROFILE_DIR - drive serve's web
page in headless Chromium over the DevTools protocol (--remote-debugging-
pipe: JSON messages ending with NUL on fds 3 and 4): wait for the chat
reply the page sends for #chat=..., press Classify and Anonymise, wait for
their score bars and highlighted entities, take a screenshot, and print
what the page shows as one JSON line (tests/serve-webui.sh checks it)."""
import base64, json, os, subprocess, sys, time
browser, url, shot, profile = sys.argv[1:5]
r_cmd, w_cmd = os.pipe()    # we write commands -> chromium fd 3
r_out, w_out = os.pipe()    # chromium fd 4 -> we read
def child():
    os.dup2(r_cmd, 3); os.dup2(w_out, 4)
p = subprocess.Popen([browser, "--headless", "--disable-gpu", "--no-sandbox",
                      "--no-first-run", "--user-data-dir=" + profile,
                      "--remote-debugging-pipe", "--window-size=1200,800",
                      "about:blank"],
                     pass_fds=(3, 4), preexec_fn=child,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
os.close(r_cmd); os.close(w_out)
buf = b""; n = [0]
def send(method, params=None, session=None):
    n[0] += 1
    m = {"id": n[0], "method": method, "params": params or {}}
    if session: m["sessionId"] = session
    os.write(w_cmd, json.dumps(m).encode() + b"\0")
    return n[0]
def wait(i, limit=30):
    global buf
    end = time.time() + limit
    while time.time() < end:
        while b"\0" in buf:
            msg, buf = buf.split(b"\0", 1)
            d = json.loads(msg)
            if d.get("id") == i:
                if "error" in d: raise SystemExit("CDP error %s" % d["error"])
                return d["result"]
        buf += os.read(r_out, 1 << 20)
    raise SystemExit("CDP: no answer to %d" % i)
try:
    t = wait(send("Target.createTarget", {"url": url}))["targetId"]
    s = wait(send("Target.attachToTarget", {"targetId": t, "flatten": True}))["sessionId"]
    expr = ("JSON.stringify({reply: (document.getElementById('last-reply')||{}).textContent||null,"
            " you: (document.querySelector('#log .you')||{}).textContent||null,"
            " mood: (document.querySelector('#log .mood')||{}).textContent||null,"
            " info: document.getElementById('info').textContent,"
            " pressed: !!window.pressed,"
            " sent: (document.querySelector('#anon-out .sent')||{}).textContent||null,"
            " bars: document.querySelectorAll('#cls-out .bar').length,"
            " marks: Array.from(document.querySelectorAll('#anon-out mark sub'))"
            ".map(e => e.textContent)})")
    state = {}
    for _ in range(150):
        res = wait(send("Runtime.evaluate", {"expression": expr, "returnByValue": True}, s))
        state = json.loads(res["result"].get("value") or "{}")
        if (state.get("reply") and state.get("bars") and state.get("marks")
                and state.get("sent")):
            break
        if state.get("reply") and not state.get("pressed"):
            wait(send("Runtime.evaluate", {"expression":
                      "classify(); anonymise(); window.pressed = 1"}, s))
        time.sleep(0.2)
    png = wait(send("Page.captureScreenshot", {"format": "png"}, s))["data"]
    open(shot, "wb").write(base64.b64decode(png))
    print(json.dumps(state))
finally:
    p.kill(); p.wait()
