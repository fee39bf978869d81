// ou-allowlist-js: a sceptic policy (WIT v0.2 `policy-plugin` world) in JavaScript,
// built with jco / componentize-js. It decides on the CSR subject's OU attributes:
//
// - no OU in the subject: abstain (the other policies decide);
// - every OU in `allowed-ous`: allow;
// - an OU outside `allowed-ous`: deny (bad-request), naming the OU.
//
// Configuration (read through `sceptic:host/config` on every call; the host runs
// `init` in a fresh instance before each `evaluate`):
//
// | key | meaning |
// |---|---|
// | `allowed-ous` | required: comma-separated OU values, compared exactly (case-sensitive) |
//
// Any other key is refused by `init`, naming it.

import { get, keys } from "sceptic:host/config@0.1.0";
import { log } from "sceptic:host/log@0.1.0";

const KNOWN_KEYS = ["allowed-ous"];

function settings() {
  const unknown = keys().filter((k) => !KNOWN_KEYS.includes(k));
  if (unknown.length > 0) {
    throw `ou-allowlist has no setting ${unknown.map((k) => JSON.stringify(k)).join(", ")} (known: ${KNOWN_KEYS.join(", ")})`;
  }
  const text = get("allowed-ous");
  if (text === undefined) {
    throw "ou-allowlist needs allowed-ous (a comma-separated list of OU values)";
  }
  const allowed = text
    .split(",")
    .map((ou) => ou.trim())
    .filter((ou) => ou.length > 0);
  if (allowed.length === 0) {
    throw "allowed-ous lists no OU";
  }
  return { allowed };
}

// The values of the OU attributes (type "OU" or 2.5.4.11) of an RFC 4514 name:
// RDNs separated by unescaped "," and multi-valued RDNs by unescaped "+";
// values with "\X" and "\HH" escapes, or "#" and the hex of a DER string.
function organizationalUnits(subject) {
  const ous = [];
  const bytes = [];
  let i = 0;
  while (i < subject.length) {
    // attribute type, up to "="
    const eq = subject.indexOf("=", i);
    if (eq < 0) break;
    const type = subject.slice(i, eq).trim().toUpperCase();
    i = eq + 1;
    bytes.length = 0;
    let hex = "";
    const isHex = subject[i] === "#";
    if (isHex) i++;
    while (i < subject.length && subject[i] !== "," && subject[i] !== "+") {
      const c = subject[i];
      if (isHex) {
        hex += c;
        i++;
      } else if (c === "\\" && i + 1 < subject.length) {
        const pair = subject.slice(i + 1, i + 3);
        if (/^[0-9a-fA-F]{2}$/.test(pair)) {
          bytes.push(parseInt(pair, 16));
          i += 3;
        } else {
          pushUtf8(bytes, subject[i + 1]);
          i += 2;
        }
      } else {
        pushUtf8(bytes, c);
        i++;
      }
    }
    i++; // the separator
    if (type === "OU" || type === "2.5.4.11" || type === "OID.2.5.4.11") {
      ous.push(isHex ? derString(hex.trim()) : new TextDecoder().decode(new Uint8Array(bytes)));
    }
  }
  return ous;
}

function pushUtf8(bytes, ch) {
  for (const b of new TextEncoder().encode(ch)) bytes.push(b);
}

// A DER string (short or long form length) from hex; the hex itself if it is not one.
function derString(hex) {
  const b = (hex.match(/../g) || []).map((h) => parseInt(h, 16));
  if (b.length < 2 || b.some(Number.isNaN)) return "#" + hex;
  let len = b[1];
  let start = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let k = 0; k < n; k++) len = len * 256 + b[2 + k];
    start = 2 + n;
  }
  if (start + len !== b.length) return "#" + hex;
  return new TextDecoder().decode(new Uint8Array(b.slice(start)));
}

function deny(reason) {
  return { tag: "deny", val: { failInfo: "bad-request", reason } };
}

export const policy = {
  init() {
    settings();
  },

  evaluate(request) {
    let allowed;
    try {
      ({ allowed } = settings());
    } catch (e) {
      // `init` accepted these settings in this very instance; refuse if not.
      return deny(String(e));
    }
    const subject = request.csr.subject;
    const ous = organizationalUnits(subject);
    if (ous.length === 0) {
      log("debug", `no OU in ${subject}; abstaining`);
      return { tag: "abstain" };
    }
    const outside = ous.filter((ou) => !allowed.includes(ou));
    if (outside.length > 0) {
      return deny(
        `OU ${outside.map((ou) => JSON.stringify(ou)).join(", ")} of ${subject} is not in allowed-ous (${allowed.join(", ")})`,
      );
    }
    log("info", `OU ${ous.join(", ")} of ${subject} is allowed`);
    return { tag: "allow" };
  },
};
