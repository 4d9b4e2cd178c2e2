#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/ (run from anywhere; rewrites them whole).

Seeds are small hand-made inputs: valid ones of each format (so the fuzzer starts past the
parsers' first checks) and edge cases (torn, oversized, hostile). Signed seeds use a fixed
Ed25519 test key, so the output is the same on every run. Needs python3-cryptography.
"""
import base64
import hashlib
import json
import os
import shutil
import struct

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUB = KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
NAME = "fuzz.example/log"


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


# ---- canonical encoding (common/canonical.h) ----
def u64(v):
    return struct.pack(">Q", v)


def i64(v):
    return struct.pack(">q", v)


def s(v):
    v = v.encode() if isinstance(v, str) else v
    return struct.pack(">I", len(v)) + v


def lst(vs):
    return struct.pack(">I", len(vs)) + b"".join(s(v) for v in vs)


def record(kind, *fields):
    return b"warden/" + kind.encode() + b"\n" + b"".join(fields)


def command(cid="a-1", host="host-1", kind="isolate", issued=1764600000000,
            expires=1764600600000, allow=(), addresses=(), args=()):
    return record("command", u64(1), s(cid), s(host), s(kind), i64(issued), i64(expires),
                  s("alice"), s("incident 42"), lst(allow), lst(addresses), lst(args))


def command_v2(cid="a-1", host="host-1", kind="isolate", incident="i-0123456789abcdef",
               args=()):
    return record("command", u64(2), s(cid), s(host), s(kind), i64(1764600000000),
                  i64(1764600600000), s("alice"), s(incident), lst(()), lst(()), lst(args))


def agent_release(cause="timed", released=1, message="released: the isolation's duration ran out"):
    return record("agent-release", u64(1), s("host-1"), s(cause), s("a-0123456789abcdef"),
                  i64(1764600003000), i64(1764600003400), u64(released), s(message), s("ab" * 32))


def receipt(details=(("k", "v"),), status=0):
    kv = [x for pair in details for x in pair]
    return record("receipt", u64(1), s("a-1"), s("host-1"), s("isolate"), u64(status),
                  s("isolated"), i64(1764600000000), i64(1764600000100), lst(kv))


def log_entry(kind="refusal", actor="controller", body=b"", sig=b"", detail="why"):
    return record("log-entry", u64(1), s(kind), i64(1764600000000), s(actor), s("host-1"),
                  s("r-1"), s(body), s(sig), s(detail))


def cert_renewal(subject="agent:host-1", proof="certificate", challenge=b"\x42" * 16,
                 csr_sha256=hashlib.sha256(b"csr").digest(), issued=1764600000000):
    return record("renewal", u64(1), s(subject), s(proof), s(challenge), s(csr_sha256),
                  i64(issued))


def key_record(purpose="log", subject="controller", role="", public_key=b""):
    return record("key", u64(1), s(purpose), s(subject), s(role), s(public_key), s(""))


def request(kind="isolate", hosts=("host-1",), all_hosts=0, allow=(), addresses=(), args=()):
    return record("request", u64(1), s("r-0123456789abcdef"), s("alice"), s(kind), lst(hosts),
                  u64(all_hosts), lst(allow), lst(addresses), lst(args), s("incident 42"),
                  i64(1764600000000))


def request_v2(kind="isolate", hosts=("host-1",), incident="i-0123456789abcdef", args=()):
    return record("request", u64(2), s("r-0123456789abcdef"), s("alice"), s(kind), lst(hosts),
                  u64(0), lst(()), lst(()), lst(args), s("why"), i64(1764600000000), s(incident))


def alert_record(labels=("alertname=SSHBruteForce", "hostname=host-42"), status="firing"):
    return record("alert", u64(1), s("al-0123456789abcdef"), s("prometheus"), s("alertmanager"),
                  s("warden"), s("419fcca5dcfe411d"), s(status), i64(1764600000000),
                  lst(labels), s("ab" * 32), i64(1764600000100))


def decision_record(outcome="acted", reason="rule-matched", request_id="r-0123456789abcdef"):
    return record("decision", u64(1), s("d-0123456789abcdef"), s("al-0123456789abcdef"),
                  s("r-fedcba9876543210"), s("ssh-bruteforce"), s("host-42"), s("host-42"),
                  s(outcome), s(reason), s("isolate"), lst(["198.51.100.7:22"]), lst([]),
                  lst([]), s(request_id), s("cd" * 32), u64(1))


# ---- signed notes (common/note.h) ----
def key_id(name, pub):
    return struct.unpack(">I", hashlib.sha256(name.encode() + b"\n\x01" + pub).digest()[:4])[0]


def vkey(name=NAME):
    return "%s+%08x+%s" % (name, key_id(name, PUB), base64.b64encode(b"\x01" + PUB).decode())


def sign_note(text, name=NAME):
    sig = struct.pack(">I", key_id(name, PUB)) + KEY.sign(text.encode())
    return text + "\n\u2014 %s %s\n" % (name, base64.b64encode(sig).decode())


def checkpoint(size, root, origin=NAME, ext=()):
    return "%s\n%d\n%s\n" % (origin, size, base64.b64encode(root).decode()) + "".join(
        e + "\n" for e in ext)


def leaf(entry):
    return hashlib.sha256(b"\x00" + entry).digest()


def node(a, b):
    return hashlib.sha256(b"\x01" + a + b).digest()


# ---- protobuf wire format, just enough for the stream messages ----
def varint(v):
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        out += bytes([b | (0x80 if v else 0)])
        if not v:
            return out


def field(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data


def vfield(num, v):
    return varint(num << 3) + varint(v)


def utmp(kind=7, pid=1234, line="pts/0", user="alice", host="198.18.0.9", session=1234,
         sec=1764600000, usec=500000):
    def fixed(text, n):
        b = text.encode() if isinstance(text, str) else text
        return (b + b"\0" * n)[:n]
    rec = struct.pack("<hhi", kind, 0, pid) + fixed(line, 32) + fixed("ts/0", 4) + \
        fixed(user, 32) + fixed(host, 256) + struct.pack("<hhiii", 0, 0, session, sec, usec) + \
        b"\0" * 16 + b"\0" * 20
    assert len(rec) == 384
    return rec


# ---- OpenSSH public keys (agent/actions/authorized_keys.h, ssh_key_blob.h) ----
CERT_SUFFIX = "-cert-v01@openssh.com"


def ssh_fill(kind, seed, tag, n):
    """n bytes from SHA-256 of the kind, seed and tag: every run writes the same keys."""
    out = b""
    while len(out) < n:
        out += hashlib.sha256(("%s/%s/%s/%d" % (kind, seed, tag, len(out))).encode()).digest()
    return out[:n]


def mpint(magnitude):
    """A minimal mpint of a big-endian magnitude (leading zero bytes dropped)."""
    magnitude = magnitude.lstrip(b"\x00")
    return s(b"\x00" + magnitude if magnitude and magnitude[0] & 0x80 else magnitude)


def ec_point(bits, seed):
    """A valid public point (uncompressed) on NIST P-bits, from a scalar derived from seed."""
    curve = {256: ec.SECP256R1(), 384: ec.SECP384R1(), 521: ec.SECP521R1()}[bits]
    k = int.from_bytes(hashlib.sha256(("ec/%d/%s" % (bits, seed)).encode()).digest(), "big")
    key = ec.derive_private_key(k % (1 << 200) + 1, curve)
    return key.public_key().public_bytes(serialization.Encoding.X962,
                                         serialization.PublicFormat.UncompressedPoint)


def cert_kind(kind):
    """The certificate type name of a plain type name."""
    if kind.endswith("@openssh.com"):
        return kind[:-len("@openssh.com")] + CERT_SUFFIX
    return kind + CERT_SUFFIX


def plain_kind(kind):
    """The plain type name whose fields a type name's blob holds."""
    if kind.endswith(CERT_SUFFIX):
        kind = kind[:-len(CERT_SUFFIX)]
        if kind.startswith(("sk-", "webauthn-")):
            kind += "@openssh.com"
    return kind


def ssh_fields(kind, seed):
    """The fields of a valid plain key of `kind` after its type string."""
    def fill(n, tag):
        return ssh_fill(kind, seed, tag, n)
    app = s("ssh:")
    if kind == "ssh-ed25519":
        return s(fill(32, "pk"))
    if kind == "sk-ssh-ed25519@openssh.com":
        return s(fill(32, "pk")) + app
    if kind in ("ssh-rsa", "rsa-sha2-256", "rsa-sha2-512"):
        return mpint(b"\x01\x00\x01") + mpint(b"\xc1" + fill(255, "n"))
    if kind == "ssh-dss":
        return (mpint(b"\xd1" + fill(127, "p")) + mpint(b"\x91" + fill(19, "q")) +
                mpint(fill(128, "g")) + mpint(fill(128, "y")))
    if kind.startswith("ecdsa-sha2-nistp"):
        bits = int(kind[len("ecdsa-sha2-nistp"):])
        return s("nistp%d" % bits) + s(ec_point(bits, seed))
    if kind in ("sk-ecdsa-sha2-nistp256@openssh.com",
                "webauthn-sk-ecdsa-sha2-nistp256@openssh.com"):
        return s("nistp256") + s(ec_point(256, seed)) + app
    raise ValueError(kind)


def ssh_blob(kind, seed="1"):
    """A key blob in SSH wire format that sshd takes. A certificate is well formed but signed by
    nobody (Warden does not verify CA signatures)."""
    if not kind.endswith(CERT_SUFFIX):
        return s(kind) + ssh_fields(kind, seed)
    return (s(kind) + s(ssh_fill(kind, seed, "nonce", 32)) + ssh_fields(plain_kind(kind), seed) +
            u64(7) + struct.pack(">I", 1) + s("alice@example") + s(s("alice")) +
            u64(1764600000) + u64(1764686400) + s(b"") + s(s("permit-pty") + s(b"")) + s(b"") +
            s(ssh_blob("ssh-ed25519", "ca")) +
            s(s("ssh-ed25519") + s(ssh_fill(kind, seed, "sig", 64))))


def ssh_key(kind, seed="1", blob=None):
    blob = ssh_blob(kind, seed) if blob is None else blob
    return "%s %s" % (kind, base64.b64encode(blob).decode())


def ssh_fingerprint(blob):
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


SSH_KEY_TYPES = [
    "ssh-ed25519", "sk-ssh-ed25519@openssh.com", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521", "sk-ecdsa-sha2-nistp256@openssh.com",
    "webauthn-sk-ecdsa-sha2-nistp256@openssh.com", "ssh-rsa", "rsa-sha2-256", "rsa-sha2-512",
    "ssh-dss",
]


def authorized_keys_seeds():
    """Key files (keys, options, every type, what sshd canonicalises, bad lines), fingerprint
    lists for the KRL, sshd_config with Include and Match, AuthorizedKeysFile patterns."""
    t = "agent_authorized_keys"
    ed, rsa, ecdsa = ssh_key("ssh-ed25519"), ssh_key("ssh-rsa"), ssh_key("ecdsa-sha2-nistp256")
    cert, sk = ssh_key("ssh-ed25519-cert-v01@openssh.com"), ssh_key("sk-ssh-ed25519@openssh.com")
    b64 = ed.split()[1]
    write(t, "file", "# alice's keys\n\n%s alice@laptop\n  %s\tbackup key  \n"
          "from=\"198.18.0.0/15\",no-pty,command=\"echo \\\"hi there\\\"\" %s ops\n"
          "\t# old\ncert-authority,principals=\"alice\" %s ca\n%s yubikey"
          % (ed, rsa, ecdsa, cert, sk))
    write(t, "options", 'restrict,pty,environment="LANG=C.UTF-8",permitopen="198.18.0.1:22" %s\n'
          'no-agent-forwarding,expiry-time="20260101" %s x y z\n'
          'command="/bin/sh -c \\"a\\\\\\" b\\"" %s\n' % (ed, ssh_key("ecdsa-sha2-nistp384"), rsa))
    write(t, "no_newline", ed + " last line")
    write(t, "every_type", "".join("%s %s\n%s\n" % (ssh_key(k, "t"), k, ssh_key(cert_kind(k), "t"))
                                   for k in SSH_KEY_TYPES))
    # One key format under different names on the line and in the blob.
    write(t, "names_shared", "%s\n%s\n%s\n" % (
        ssh_key("rsa-sha2-256", blob=ssh_blob("ssh-rsa", "n")),
        ssh_key("ssh-rsa", blob=ssh_blob("rsa-sha2-512", "n")),
        ssh_key("webauthn-sk-ecdsa-sha2-nistp256@openssh.com",
                blob=ssh_blob("sk-ecdsa-sha2-nistp256@openssh.com", "n"))))
    # What sshd takes and re-serialises: padded numbers, strings with a trailing NUL.
    e, n = b"\x01\x00\x01", b"\x00\xc1" + ssh_fill("ssh-rsa", "c", "n", 255)
    write(t, "canonical", "%s padded e\n%s padded n\n%s type NUL\n%s curve NUL\n" % (
        ssh_key("ssh-rsa", blob=s("ssh-rsa") + s(b"\x00\x00\x00" + e) + s(n)),
        ssh_key("ssh-rsa", blob=s("ssh-rsa") + s(e) + s(b"\x00\x00" + n)),
        ssh_key("ssh-ed25519", blob=s(b"ssh-ed25519\x00") + s(ssh_fill("ed", "c", "pk", 32))),
        ssh_key("sk-ecdsa-sha2-nistp256@openssh.com",
                blob=s("sk-ecdsa-sha2-nistp256@openssh.com") + s(b"nistp256\x00") +
                s(ec_point(256, "c")) + s(b"ssh:\x00"))))
    write(t, "whitespace", "%s crlf\r\n\r\n  \t\r\nssh-ed25519 %s\f%s\v%s ff vt\n"
          "no-pty ssh-ed25519 \f%s\r\r\n\fssh-ed25519 %s\n"
          % (ed, b64[:10], b64[10:20], b64[20:], b64, b64))
    pk = ssh_fill("bad", "1", "pk", 32)
    point = ec_point(256, "bad")
    off_curve = point[:-1] + bytes([point[-1] ^ 1])
    bad_cert = ssh_blob("ssh-ed25519-cert-v01@openssh.com", "bad")
    user_cert = struct.pack(">I", 1) + s("alice@example")
    write(t, "bad_blobs", "".join("%s\n" % ssh_key(k, blob=b) for k, b in [
        ("ssh-ed25519", s("ssh-ed25519") + s(pk[:31])),
        ("ssh-ed25519", s("ssh-ed25519") + s(pk) + b"x"),
        ("ssh-ed25519", s("ssh-ed25519") + s(pk) + s(b"")),
        ("sk-ssh-ed25519@openssh.com", s("sk-ssh-ed25519@openssh.com") + s(pk)),
        ("ecdsa-sha2-nistp256", s("ecdsa-sha2-nistp256") + s("nistp256") + s(off_curve)),
        ("ecdsa-sha2-nistp256",
         s("ecdsa-sha2-nistp256") + s("nistp256") + s(b"\x02" + point[1:33])),
        ("ecdsa-sha2-nistp256", s("ecdsa-sha2-nistp256") + s("nistp384") + s(point)),
        ("ecdsa-sha2-nistp384", ssh_blob("ecdsa-sha2-nistp256")),
        ("ssh-rsa", s("ssh-rsa") + mpint(e) + mpint(b"\x7f" + ssh_fill("rsa", "bad", "n", 127))),
        ("ssh-rsa", s("ssh-rsa") + s(b"\x81") + mpint(n)),
        ("ssh-ed25519-cert-v01@openssh.com", bad_cert + b"x"),
        ("ssh-ed25519-cert-v01@openssh.com",
         bad_cert.replace(user_cert, struct.pack(">I", 3) + s("alice@example"))),
    ]))
    write(t, "bad_type", "ssh-ed448 " + b64 + "\nno-pty ssh-ed448 AAAA\n")
    write(t, "bad_base64", "ssh-ed25519 " + b64.rstrip("=") + "\n" + ed[:-4] + "*AAA\n")
    write(t, "bad_blob_type", "ssh-rsa " + b64 + "\n")
    write(t, "bad_blob_overrun", "ssh-ed25519 " +
          base64.b64encode(struct.pack(">I", 1000) + b"ssh-ed25519").decode() + "\n")
    write(t, "bad_quote", 'command="ls \\" ' + ed + "\n")
    write(t, "bad_long", ed + " " + "c" * (16 * 1024) + "\n" + rsa + "\n")
    # Fingerprints one a line, as the KRL check reads the input: valid, repeated, invalid.
    fps = [ssh_fingerprint(ssh_blob(k, "f")) for k in ("ssh-ed25519", "ssh-rsa", "ssh-dss")]
    write(t, "fingerprints", "\n".join(fps + [fps[0], fps[1][:-1], "SHA256:" + "A" * 43 + "=",
                                              "MD5:" + fps[2][7:], ""]))
    write(t, "sshd_config", "# Debian\nInclude /etc/ssh/sshd_config.d/*.conf\nPort 22\n"
          "authorizedkeysfile\t%h/.ssh/authorized_keys \"/etc/ssh/keys/%u key\" /k/%U.%%  # two\r\n"
          "AuthorizedKeysFile /ignored\nRevokedKeys=/etc/ssh/revoked_keys\n"
          "AuthorizedKeysCommand /usr/bin/sss_ssh_authorizedkeys\nMatch User backup\n"
          "  AuthorizedKeysFile /etc/ssh/backup_keys\n  Include never.conf\n")
    write(t, "sshd_config_none", "AuthorizedKeysFile none\nRevokedKeys none\n"
          "AuthorizedKeysCommand none\n")
    write(t, "sshd_config_quoted", '"AuthorizedKeysFile" /etc/ssh/q/%u\n=RevokedKeys=/r\n'
          'Authorized"KeysCommand" /bin/k\n"AuthorizedKeysFile /never\n')
    write(t, "include_self", "Port 22\nInclude self.conf\nInclude a b\n")
    write(t, "include_other", "Include d/*.conf\nAuthorizedKeysFile .ssh/k\x00"
          "AuthorizedKeysFile /etc/ssh/keys/%u\nInclude again\n")
    # The included text ends in a Match block, which ends with it.
    write(t, "include_match", "Include d/*.conf\nAuthorizedKeysFile .ssh/main\n"
          "Match all\n  AuthorizedKeysFile %h/.ssh/m1 %h/.ssh/m1 /etc/ssh/m2\x00"
          "Match Group admins\nAuthorizedKeysFile /etc/ssh/admin/%u\n"
          "AuthorizedKeysCommand /bin/admin-keys\n")
    write(t, "pattern", "%h/.ssh/authorized_keys\x00/home/alice")
    write(t, "pattern_relative", ".ssh/authorized_keys2\x00/")
    write(t, "pattern_escape", "%h/../%u/../../etc/shadow\x00/home/a/./b/")
    write(t, "pattern_slashes", "%h//./.ssh//keys/.//\x00/home//alice/")
    write(t, "bad_sshd_config", 'AuthorizedKeysFile "/etc/ssh/keys\nAuthorizedKeysFile /k/%n\n')


# ---- alert webhook bodies (common/alerts/*_payload.h) ----
def alert_payload_seeds():
    """The first byte picks the parser (tests/fuzz/common_alert_payloads.cc): 0 Alertmanager, 1 Falco,
    2 the generic JSON list. Small synthetic bodies, not the real senders' captures."""
    t = "common_alert_payloads"

    def body(parser, doc):
        text = doc if isinstance(doc, (str, bytes)) else json.dumps(doc, separators=(",", ":"))
        return bytes([parser]) + (text if isinstance(text, bytes) else text.encode())

    def am_alert(host, status="firing", ends="0001-01-01T00:00:00Z", **extra):
        a = {"status": status, "labels": {"alertname": "SSHBruteForce", "hostname": host,
                                          "instance": host + ".example.org:9100"},
             "annotations": {"summary": "brute force on " + host},
             "startsAt": "2026-12-01T18:58:18.398244425Z", "endsAt": ends,
             "generatorURL": "http://prometheus.example.org/graph"}
        a.update(extra)
        return a

    write(t, "am_group", body(0, {
        "receiver": "warden", "status": "firing", "version": "4", "groupKey": "{}:{a=\"b\"}",
        "truncatedAlerts": 1, "alerts": [am_alert("h1", fingerprint="0123456789abcdef"),
                                         am_alert("h2", "resolved", "2026-12-01T18:59:00Z")]}))
    write(t, "am_legacy", body(0, {
        "receiver": "webhook", "status": "firing", "alerts": [
            am_alert("h3", startsAt="2017-10-21T15:50:17.16095407-02:00"),
            am_alert("h4", "resolved", "2017-10-21T15:50:28+05:30", annotations=None)]}))
    write(t, "am_unicode", body(0, {"version": "4", "alerts": [
        {"status": "firing", "labels": {"h\u00f4te": "\ud83d\ude00", "a": ""}, "fingerprint": ""}]}))
    write(t, "am_wrong_types", body(0, {"version": "4", "truncatedAlerts": -1, "alerts": [
        {"status": "firing", "labels": {"hostname": 42}}]}))
    write(t, "am_version_1", body(0, {"version": "1", "alerts": []}))
    write(t, "am_bad_status", body(0, {"alerts": [{"status": "pending", "labels": {}}]}))
    write(t, "am_alerts_object", body(0, {"alerts": {"status": "firing"}}))

    write(t, "falco_event", body(1, {
        "output": "13:44:05: Critical shell (user=root)", "priority": "Critical",
        "rule": "Terminal shell in container", "source": "syscall", "hostname": "node-1",
        "tags": ["shell", "container", "mitre_execution"], "time": "2023-05-25T13:44:05.478445995Z",
        "uuid": "0b5c7d3e-1f2a-4b6c-8d9e-a1b2c3d4e5f6",
        "output_fields": {"evt.time": 1685022245478445995, "proc.tty": 34816, "user.loginuid": -1,
                          "user.name": "root", "fd.is_new": True, "evt.rate": 0.5,
                          "proc.pname": None, "ka.req.pod.containers.image": ["nginx", "busybox"],
                          "ka.uri.param[command]": "sh"}}))
    write(t, "falco_minimal", body(1, {"rule": "r"}))
    write(t, "falco_no_rule", body(1, {"priority": "Notice", "output_fields": {}}))
    write(t, "falco_object_field", body(1, {"rule": "r", "output_fields": {"x": {"y": 1}}}))
    write(t, "falco_tags_wrong", body(1, {"rule": "r", "tags": "k8s", "time": "yesterday"}))

    write(t, "json_list", body(2, [
        {"labels": {"alertname": "Beacon", "hostname": "h5"}, "annotations": {"s": "x"},
         "startsAt": "2025-12-01T00:00:00Z", "endsAt": "2025-12-01T00:10:00Z"},
        {"labels": {"alertname": "Beacon", "hostname": "h6"}, "fingerprint": "siem-77",
         "startsAt": "2025-12-01T00:00:00.5+01:00", "endsAt": "2099-01-01T00:00:00Z"}]))
    write(t, "json_no_labels", body(2, [{"annotations": {}}]))
    write(t, "json_not_array", body(2, {"labels": {"a": "b"}}))
    write(t, "json_bad_time", body(2, [{"labels": {"a": "b"}, "startsAt": "2026-02-30T00:00:00Z"}]))
    write(t, "deep", body(2, "[" * 70 + "]" * 70))
    write(t, "deep_in_string", body(2, '[{"labels":{"a":"' + "[" * 100 + '"}}]'))
    write(t, "bad_utf8", body(0, b'{"alerts":[{"status":"firing","labels":{"a":"\xff"}}]}'))
    write(t, "torn", body(1, '{"rule":"r","output_fields":{"a":'))
    write(t, "empty", b"\x02")
    write(t, "json_too_many", body(2, [{"labels": {}}] * 1001))
    write(t, "long_label", body(2, [{"labels": {"a": "x" * 4097}}]))


# ---- alert rules files and matchers (common/alerts/rules.h, matcher.h) ----
def alert_rules_seeds():
    """Each input is read both as a rules file and as one matcher (tests/fuzz/common_alert_rules.cc)."""
    t = "common_alert_rules"
    rule = ("rules:\n"
            "  - name: ssh-bruteforce\n"
            "    format: alertmanager\n"
            "    senders: [prometheus-prod]\n"
            "    match:\n"
            "      - alertname=\"SSHBruteForce\"\n"
            "      - severity=~\"critical|page\"\n"
            "    host_from: [hostname, instance]\n"
            "    action: isolate\n"
            "    with: {allow: [\"198.51.100.7:22\", \"[2001:db8::/32]:443\"]}\n"
            "    mode: enforce\n")
    guardrails = ("guardrails:\n  window: 10m\n  max_isolations: 3\n  max_hosts_per_alert: 3\n"
                  "  max_blocks: 20\n  cooldown: 30m\n  dedupe: 1h\n  max_alert_age: 1h\n"
                  "  approval_ttl: 60m\n  protected_hosts: [ctl-1, db.example.org]\n"
                  "  never_block: [10.0.0.0/8, \"2001:db8::/32\"]\n")
    notify = "notify:\n  - url: https://chat.example.net/hooks/warden\n"
    write(t, "design_example", rule + guardrails + notify)
    write(t, "every_action", "rules:\n"
          "  - {name: k, format: [falco, json], host_from: [hostname], action: kill-sessions,\n"
          "     with: {user_from: output_fields.user.name}, mode: approve,\n"
          "     match: ['output_fields.ka.uri.param[command]=~\"sh|bash\"',"
          " '\"output_fields.k8s.pod.label[app]\"!=\"web\"']}\n"
          "  - {name: b, senders: [wazuh], host_from: [agent], action: block,"
          " with: {address_from: src_ip}}\n"
          "  - {name: c, host_from: [instance], action: collect}\n")
    write(t, "empty", "")
    write(t, "no_rules", "rules: []\n")
    write(t, "comments", "# nothing yet\n---\n")
    write(t, "bad_regex", rule.replace("critical|page", "(critical"))
    write(t, "timed_release", rule.replace("]}\n", "], for: 4h}\n"))
    write(t, "shutdown", rule.replace("action: isolate", "action: shutdown").replace(
        "    with: {allow: [\"198.51.100.7:22\", \"[2001:db8::/32]:443\"]}\n", ""))
    write(t, "duplicate_names", rule + rule[len("rules:\n"):])
    write(t, "unknown_key", rule + "    matches: []\n")
    write(t, "bad_guardrails", "guardrails: {window: 10 minutes, max_blocks: -1,"
          " never_block: [10.0.0.0/33]}\n")
    write(t, "http_notify", "notify: [{url: 'http://user:pw@chat.example.net/'}]\n")
    write(t, "anchors", "x: &a [1]\nrules: *a\n")
    write(t, "billion_laughs", "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        "%s: &%s [*%s, *%s, *%s]\n" % (c, c, p, p, p) for p, c in zip("abcdefghi", "bcdefghij")))
    write(t, "tags", "rules:\n  - name: !!str r1\n    host_from: !foo [h]\n")
    write(t, "two_documents", "rules: []\n---\nrules: []\n")
    write(t, "deep", "rules: " + "[" * 200 + "]" * 200 + "\n")
    write(t, "deep_block", "".join(" " * i + "- \n" for i in range(0, 120, 2)))
    write(t, "flow_mess", "{rules: [{name: a, host_from: [h], action: collect, with: {}}],"
          " notify: , guardrails: {? [a] : b}}\n")
    write(t, "control_chars", b"rules: []\n# \x1b[2J\x00\n")
    write(t, "not_utf8", b"rules: [{name: caf\xe9}]\n")
    write(t, "many_rules", "rules:\n" + "".join(
        "  - {name: r%d, host_from: [h], action: collect}\n" % i for i in range(257)))
    # Matchers alone.
    write(t, "m_equal", 'alertname="SSHBruteForce"')
    write(t, "m_regex", 'severity =~ "critical|page"')
    write(t, "m_not_regex", r'instance!~"host-\d+\.example\.org(:\d+)?"')
    write(t, "m_not_equal_unquoted", "severity != info ")
    write(t, "m_escapes", r'msg="say \"hi\"\n\t\\ \x"')
    write(t, "m_quoted_name", r'"output_fields.k8s.pod.label[app.kubernetes.io/name]"="web"')
    write(t, "m_falco_name", 'output_fields.ka.uri.param[command]="sh"')
    write(t, "m_bad_regex", 'a=~"x)|(y"')
    write(t, "m_big_regex", r'a=~"\pL{1000}"')
    write(t, "m_utf8", 'who=~"caf\u00e9.*"')


def intake_authorization_seeds():
    """The alert intake's Authorization header (controller/alerts/authorization.h)."""
    t = "controller_intake_authorization"
    write(t, "bearer", "Bearer 0123456789abcdef-._~+/==")
    write(t, "bearer-lower-ows", " \tbearer   abc  ")
    write(t, "basic", "Basic " + base64.b64encode(b"alertmanager:s3cret").decode())
    write(t, "basic-no-colon", "Basic " + base64.b64encode(b"nocolon").decode())
    write(t, "basic-unpadded", "Basic dXNlcjpwdw")
    write(t, "other-scheme", "Digest username=x")
    write(t, "two-spaces-inside", "Bearer a b")
    write(t, "only-equals", "Bearer ===")
    write(t, "empty", "")


def main():
    if os.path.isdir(ROOT):
        shutil.rmtree(ROOT)

    t = "agent_dhcp_leases"
    write(t, "networkd", "# This is private data. Do not parse.\nADDRESS=198.18.0.20\n"
          "NETMASK=255.255.255.0\nROUTER=198.18.0.1\nSERVER_ADDRESS=198.18.0.1\nT1=1800\n")
    write(t, "dhclient", "lease {\n  interface \"eth0\";\n  fixed-address 198.18.0.20;\n"
          "  option dhcp-server-identifier 198.18.0.1;\n  renew 2 2025/12/02 10:00:00;\n}\n"
          "lease {\n  option dhcp-server-identifier 198.18.0.2;\n}\n")
    write(t, "hostile", "SERVER_ADDRESS=0.0.0.0\nSERVER_ADDRESS=127.0.0.1\n"
          "SERVER_ADDRESS=255.255.255.255\nSERVER_ADDRESS=224.0.0.1\nSERVER_ADDRESS=10.0.0.0/8\n"
          "option dhcp-server-identifier 198.18.0.1 ;\nSERVER_ADDRESS= 198.18.0.3 \n"
          "SERVER_ADDRESS=198.018.0.1\nSERVER_ADDRESS=::1\n")
    write(t, "many", "".join("SERVER_ADDRESS=198.18.0.%d\n" % i for i in range(1, 20)))
    write(t, "empty", "")

    t = "agent_controller_pins"
    write(t, "pins", "198.18.0.1@1764600000000,[2001:db8::1]@1764600000001")
    write(t, "legacy", "198.18.0.1,198.18.0.2@0,198.18.0.3@-5,198.18.0.0/24@1,@1,[::1@2")
    write(t, "peer_v4", "ipv4:198.18.0.1:7443")
    write(t, "peer_v6", "ipv6:%5B2001:db8::1%5D:7443")
    write(t, "peer_zone", "ipv6:[fe80::1%25eth0]:7443")
    write(t, "peer_unix", "unix:/run/warden.sock")
    write(t, "many", ",".join("198.18.0.%d@%d" % (i, 1764600000000 + i) for i in range(40)))

    t = "agent_nft_table"
    script = ("table inet warden {\n\tset allow4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n"
              "\t\telements = { 198.18.0.1, 198.18.0.0/24 }\n\t}\n"
              "\tchain input {\n\t\ttype filter hook input priority -300; policy drop;\n"
              "\t\tiif \"lo\" accept comment \"loopback\"\n"
              "\t\tip saddr @allow4 accept comment \"allow\"\n\t}\n}\n")
    listing = ("table inet warden_owned { # progname warden-agent\n\tflags owner\n"
               "\tset allow4 {\n\t\ttype ipv4_addr\n\t\telements = { 198.18.0.1,\n"
               "\t\t\t     198.18.0.2 }\n\t}\n\tchain input {\n"
               "\t\ttype filter hook input priority raw; policy drop;\n"
               "\t\tiif \"lo\" accept comment \"loopback\"\n\t\tcounter accept\n\t}\n}\n")
    write(t, "script", script)
    write(t, "script_vs_listing", script + "\0" + script.replace("-300", "raw"))
    write(t, "owned", listing + "\0" + listing)
    write(t, "other_objects", script.replace("\tchain input", "\tmap m {\n\t}\n\tchain input")
          + "\0" + script)
    write(t, "unterminated", "table inet warden {\n\tset s {\n\t\telements = { 1, 2\n")

    t = "agent_proc_stat"
    write(t, "plain", "1234 (bash) S 1000 1234 1234 34816 1300 4194560 5000 0 0 0 12 3 0 0 20 0 "
          "1 0 55555 10000000 1000 18446744073709551615 1 1 0 0 0 0 65536 3670020 1266777851 "
          "0 0 0 17 1 0 0 0 0 0\n")
    write(t, "hostile_comm", "99 (a) b) (c)) R 1 99 99 0 -1 2097152 0 0 0 0 0 0 0 0 20 0 1 0 7 "
          "0 0\n")
    write(t, "kthread", "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0\n")
    write(t, "short", "5 (x)")
    write(t, "no_paren", "5 x S 1")
    write(t, "tty_pts", "7 (sshd) S 1 7 7 34821 7 4194560 0 0 0 0 0 0 0 0 20 0 1 0 4294967296 "
          "0 0\n")

    t = "agent_proc_status"
    write(t, "plain", "Name:\tbash\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t1234\nPid:\t1234\n"
          "PPid:\t1000\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\n")
    write(t, "hostile_name", "Name:\tx\\nUid:\t0\t0\nUid:\t1000\t0\t0\t0\nGid:\t5\t5\t5\t5\n")
    write(t, "missing", "Name:\tx\nUid:\tnone\n")
    write(t, "overflow", "Name:\tx\nUid:\t99999999999\t-1\t0\t0\nGid:\t4294967295\t0\n")

    t = "agent_proc_cmdline"
    write(t, "argv", b"/usr/bin/python3\0-c\0print('hi')\0")
    write(t, "rewritten", b"sshd: alice [priv]")
    write(t, "nuls", b"\0\0a\0\0b\0\0")
    write(t, "empty", b"")
    write(t, "utf8", "caf\u00e9\0\xff".encode("utf-8", "surrogateescape") + b"\xfe\0")

    t = "agent_utmp"
    write(t, "login", utmp())
    write(t, "mixed", utmp(kind=2, user="reboot") + utmp() + utmp(kind=8) +
          utmp(user="b" * 32, line="l" * 32, host="h" * 256, pid=-1, session=-1,
               sec=-2147483648, usec=-999999) + b"partial")
    write(t, "torn", utmp()[:200])

    t = "agent_shadow"
    write(t, "file", "root:$6$salt$hash:19000:0:99999:7:::\nalice:$y$j9T$abc$def:19500:0:99999:7:::\n"
          "bob:!:19500::::::\nlocked:!$6$x:19500:0:99999:7::1:\n")
    write(t, "line", "alice:$y$j9T$abc$def:19500:0:99999:7:::")
    write(t, "lock_record", "alice:$6$x:19500:0:99999:7:::\nalice:!$6$x:19500:0:99999:7::1:\n")
    write(t, "torn", "root:x:19000:0:99999:7:::\nalice:x:19")
    write(t, "bad", "root:x:19000:0:99999:7:::\n\nroot:x:1::::::\n\r\nx:y:z\n")

    authorized_keys_seeds()

    t = "agent_passwd"
    write(t, "passwd", "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:"
          "/usr/sbin/nologin\nalice:x:1000:1000:Alice,,,:/home/alice:/bin/bash\n"
          "toor:x:0:0::/root:/bin/sh\nsvc:x:999:999::/:/bin/false\nnoshell:x:1001:1001:::\n")
    write(t, "login_defs", "# comment\nUID_MIN\t\t\t 500\nUID_MAX 70000\nPASS_MAX_DAYS 99999\n")
    write(t, "bad", "root:x:0:0:root:/root:/bin/bash\nroot:x:0:0::/:/bin/sh\nx:x:-1:0:::\n")
    write(t, "huge_uid", "big:x:4294967296:0:::/bin/sh\nbig2:x:4294967295:0:::/bin/sh\n")

    write("common_command", "isolate", command(allow=["198.18.0.0/24", "[2001:db8::1]:443"]))
    write("common_command", "block", command(kind="block", addresses=["203.0.113.7"]))
    write("common_command", "host_action", command(kind="kill", args=["pid=1234", "signal=9"]))
    write("common_command", "extremes", command(issued=-(1 << 63), expires=(1 << 63) - 1))
    write("common_command", "truncated", command()[:-3])
    write("common_command", "trailing", command() + b"x")
    write("common_command", "huge_list", record("command", u64(1), s("a"), s("h"), s("k"),
                                                i64(0), i64(0), s(""), s("")) +
          struct.pack(">I", 0xFFFFFFFF))

    write("common_receipt", "succeeded", receipt())
    write("common_receipt", "details", receipt(details=(("a", "1"), ("b", "2"), ("c", ""))))
    write("common_receipt", "unsorted", receipt(details=(("b", "1"), ("a", "2"))))
    write("common_receipt", "repeated", receipt(details=(("a", "1"), ("a", "2"))))
    write("common_receipt", "bad_status", receipt(status=7))

    write("common_log_entry", "refusal", log_entry())
    write("common_log_entry", "signed", log_entry("receipt", "agent:host-1", receipt(), b"\1" * 64))
    write("common_log_entry", "version2", log_entry().replace(u64(1), u64(2), 1))

    write("common_key_record", "log", key_record(public_key=vkey().encode()))
    write("common_key_record", "agent", key_record("agent", "host-1", "", PUB))
    write("common_key_record", "operator", key_record("operator", "alice", "admin", PUB))

    write("common_command", "v2_incident", command_v2())
    write("common_command", "v2_timed", command_v2(incident="", args=["for_ms=3000"]))
    write("common_command", "v3", command_v2().replace(u64(2), u64(3), 1))
    write("common_agent_release", "timed", agent_release())
    write("common_agent_release", "failed", agent_release(released=0, message="nft: busy"))
    write("common_agent_release", "unknown_cause", agent_release(cause="operator"))
    write("common_agent_release", "released_2", agent_release(released=2))
    write("common_agent_release", "torn", agent_release()[:-3])
    write("common_agent_release", "trailing", agent_release() + b"x")
    write("common_cert_renewal", "agent", cert_renewal())
    write("common_cert_renewal", "expired_agent", cert_renewal(proof="enrolled-key"))
    write("common_cert_renewal", "operator", cert_renewal("operator:alice"))
    write("common_cert_renewal", "controller", cert_renewal("controller", "ca-key", b"", b""))
    write("common_cert_renewal", "short_challenge", cert_renewal(challenge=b"\x01"))
    write("common_cert_renewal", "torn", cert_renewal()[:-3])

    write("common_request", "isolate", request(allow=["198.18.0.0/24:22"]))
    write("common_request", "v2_incident", request_v2())
    write("common_request", "v2_incident_open", request_v2("incident-open", (), incident="", args=[
        "id=i-0123456789abcdef", "codename=sapphire-unicorn", "severity=2", "summary=web"]))
    write("common_request", "v2_torn", request_v2()[:-2])
    write("common_request", "all_hosts", request("block", (), 1, addresses=["203.0.113.0/24"]))
    write("common_request", "add_operator", request("add-operator", (), 0, args=[
        "name=bob", "role=responder", "signing_key=" + PUB.hex()]))
    write("common_request", "revoke_operator", request("revoke-operator", (), 0, args=["name=bob"]))
    write("common_request", "bad_operator", request("add-operator", (), 0, args=[
        "name=bob", "name=eve", "signing_key=" + PUB.hex().upper()]))

    t = "common_automation_record"
    write(t, "alert", alert_record())
    write(t, "alert_resolved_no_labels", alert_record((), "resolved"))
    write(t, "decision_acted", decision_record())
    write(t, "decision_pending", decision_record("pending-approval", "budget-exhausted", ""))
    write(t, "decision_torn", decision_record()[:-5])
    write(t, "reason", "automated: alert al-0123456789abcdef, decision d-0123456789abcdef")
    write(t, "reason_approved", "automated: alert al-1, decision d-2, approved in request r-3")
    write(t, "reason_nested", "automated: alert , decision , decision , approved in request ")

    t = "common_net"
    for i, text in enumerate(["198.18.0.7", "198.18.0.0/15", "2001:db8::/32", "::ffff:1.2.3.4",
                              "198.18.0.7/24", "198.18.0.0/15:443", "[2001:db8::1]:22",
                              "[2001:db8::/32]:80", "host.example:7443", "[::1]:0",
                              "1.2.3.4:99999", "0.0.0.0/0", "::/0", "[fe80::1%eth0]:1"]):
        write(t, "n%02d" % i, text)
    # Found by the fuzzer: a bracket in the host printed as text that did not parse back.
    write(t, "crash-bracket-host", b"[[0\x1a0\x1a\x1a/r]:81")
    # Found by the CI campaign: a bracketed host that is not IPv6 printed as text that did not
    # parse back.
    write(t, "bracketed_host_not_ipv6", b'[[ffe8\x01\x00\x00\x00\x00\x00\x00\x0eE]:1')

    root1 = hashlib.sha256(b"").digest()
    cp0 = checkpoint(0, root1)
    t = "common_checkpoint"
    write(t, "plain", checkpoint(42, bytes(range(32))))
    write(t, "extensions", checkpoint(1, bytes(32), ext=["ext one", "ext two"]))
    write(t, "signed", sign_note(cp0))
    write(t, "leading_zero", "o\n042\n%s\n" % base64.b64encode(bytes(32)).decode())
    write(t, "too_big", "o\n18446744073709551616\n%s\n" % base64.b64encode(bytes(32)).decode())

    t = "common_signed_note"
    write(t, "checkpoint", sign_note(cp0))
    write(t, "other_key", sign_note(cp0, "other.example/log"))
    write(t, "vkey", vkey())
    write(t, "blank_lines", sign_note("a\n\nb\n"))
    write(t, "text_only", "hello\n")
    # Found by a campaign: a verifier key whose hash is upper-case hex (Go's note package takes it).
    write(t, "vkey_upper_case_hash", b'fuzz.example/log+18ad62Be+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4')

    # A whole, valid export: the log key, the command key, a checkpoint over both.
    e0 = log_entry("key", "controller", key_record(public_key=vkey().encode()), b"", "")
    e1 = log_entry("key", "controller", key_record("command", public_key=PUB), b"", "")
    root = node(leaf(e0), leaf(e1))
    b64 = lambda b: base64.b64encode(b).decode()
    header = "warden-audit-export 1\norigin %s\nvkey %s\n" % (NAME, vkey())
    valid = header + "checkpoint %s\nentry %s\nentry %s\ncheckpoint %s\nend 2\n" % (
        b64(sign_note(cp0).encode()), b64(e0), b64(e1), b64(sign_note(checkpoint(2, root)).encode()))
    t = "common_audit_export"
    write(t, "valid", valid)
    write(t, "truncated", valid[: valid.rindex("end ")])
    write(t, "empty_log", header + "checkpoint %s\nend 0\n" % b64(sign_note(cp0).encode()))
    write(t, "bad_root", valid.replace(b64(e1), b64(log_entry("key", "controller",
                                                              key_record("command",
                                                                         public_key=bytes(32))))))
    write(t, "header_only", "warden-audit-export 1\n")

    t = "controller_agent_message"
    write(t, "receipt", field(3, field(1, receipt()) + field(2, b"\1" * 64)))
    write(t, "hello", field(1, field(1, b"host-1")))
    write(t, "heartbeat", field(2, vfield(1, 1764600000000)))
    write(t, "event", field(5, field(1, b"tamper") + field(2, b"rules changed")))
    write(t, "unknown_field", field(9, b"x") + field(3, b""))

    t = "controller_evidence_manifest"
    write(t, "manifest", '{"schema":"warden-evidence-manifest/1","evidence_id":"e-1",'
          '"action_id":"a-1","sha256":"%s","source":{"path":"/dev/sda"}}' % ("ab" * 32))
    write(t, "wrong_types", '{"evidence_id":1,"action_id":null,"source":"x","sha256":[1]}')
    write(t, "not_object", '[1,2,{"evidence_id":"e"}]')
    write(t, "deep", "[" * 200 + "]" * 200)
    write(t, "bad_utf8", b'{"evidence_id":"\xff\xfe"}')

    t = "agent_signed_command"
    proof = field(3, sign_note(cp0).encode()) + vfield(4, 0) + field(5, log_entry("dispatch")) + \
        field(6, bytes(32))
    write(t, "isolate", field(1, field(1, command()) + field(2, b"\1" * 64) + proof))
    write(t, "expired", field(1, field(1, command(expires=1))))
    write(t, "unknown_kind", field(1, field(1, command(kind="format-disk"))))
    write(t, "extreme_expiry", field(1, field(1, command(expires=-(1 << 63)))))
    write(t, "future", field(1, field(1, command(issued=(1 << 63) - 1))))

    # The triage collector's stream: 2 bytes of piece size, then length-framed messages.
    def frame(msg):
        return struct.pack("<I", len(msg)) + msg

    def entry(name, size, kind=ord("0"), link=b""):
        return field(3, field(1, name) + vfield(2, kind) + vfield(3, 0o644) + vfield(6, 1680674828)
                     + vfield(7, size) + (field(8, link) if link else b""))

    def member(name, kind, archived=1):
        return field(6, field(1, name) + field(2, kind) + field(3, name[5:]) + vfield(4, archived))

    t = "agent_triage_stream"
    whole = frame(entry(b"files/etc/crontab", 5)) + frame(field(4, b"hello")) + \
        frame(vfield(5, 1)) + frame(member(b"files/etc/crontab", b"file")) + \
        frame(member(b"files/etc/at.deny", b"absent", 0)) + frame(vfield(10, 0)) + \
        frame(field(11, vfield(1, 3)))
    write(t, "whole", b"\xff\xff" + whole)
    write(t, "torn", b"\x02\x00" + whole)
    write(t, "orders", b"\x00\x01" + frame(field(1, field(1, b"/") + vfield(2, 1 << 26) +
                                                  vfield(3, 1 << 30) + vfield(4, 20000) +
                                                  field(5, b"/var/lib/warden-agent") + vfield(6, 65533)
                                                  + vfield(7, 65533))))
    write(t, "escape", b"\xff\x00" + frame(entry(b"files/etc/../shadow", 1)) +
          frame(entry(b"commands/journal.txt", 1)) + frame(entry(b"files/dir/", 0, ord("5"))))
    write(t, "links", b"\xff\x00" + frame(entry(b"files/a", 0, ord("2"), b"/etc/shadow")) +
          frame(entry(b"files/b", 0, ord("1"), b"files/a")))
    write(t, "oversized", b"\xff\xff" + struct.pack("<I", 1 << 30) + b"x" * 64)
    write(t, "garbage", b"\x10\x00" + frame(b"\xff\xff\xff"))

    alert_payload_seeds()
    alert_rules_seeds()
    intake_authorization_seeds()


if __name__ == "__main__":
    main()
