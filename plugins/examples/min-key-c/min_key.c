// min-key-c: a minimal sceptic policy written in C, against the WIT v0.2
// `policy-plugin` world (bindings from `wit-bindgen c`, see build.sh).
//
// Setting: min-bits, required, a whole number of bits from 1 to 65536.
// evaluate denies (badRequest) a CSR whose key is smaller than min-bits, with
// the key's size in the reason, and abstains on every other request: it never
// allows, so a chain needs another policy (e.g. builtin:secret-policy) to issue.
//
// Every call runs in a fresh instance after `init`: nothing is kept between
// calls, min-bits is read through `config` each time.

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_plugin.h"

#define SETTING "min-bits"
#define MAX_BITS 65536u

// A string for the host: `policy_plugin_string_dup` copies into malloc'd memory,
// which the generated post-return code frees.
static void set_string(policy_plugin_string_t *out, const char *text) {
  policy_plugin_string_dup(out, text);
}

// min-bits as configured: 0 with a message in `error` when missing or invalid.
static uint32_t read_min_bits(char *error, size_t error_len) {
  policy_plugin_string_t key, value;
  policy_plugin_string_dup(&key, SETTING);
  bool present = sceptic_host_config_get(&key, &value);
  policy_plugin_string_free(&key);
  if (!present) {
    snprintf(error, error_len, "min-key-c needs the setting " SETTING
             " (a number of bits, e.g. " SETTING "=2048)");
    return 0;
  }
  uint32_t bits = 0;
  bool valid = value.len > 0 && value.len <= 5;
  for (size_t i = 0; valid && i < value.len; i++) {
    uint8_t c = value.ptr[i];
    if (c < '0' || c > '9') {
      valid = false;
    } else {
      bits = bits * 10 + (uint32_t)(c - '0');
    }
  }
  if (!valid || bits == 0 || bits > MAX_BITS) {
    // The operator's value, quoted, cut short if long.
    int shown = value.len > 64 ? 64 : (int)value.len;
    snprintf(error, error_len,
             "min-key-c: " SETTING " must be a whole number of bits from 1 to %u, not \"%.*s\"",
             MAX_BITS, shown, (const char *)value.ptr);
    bits = 0;
  }
  policy_plugin_string_free(&value);
  return bits;
}

bool exports_sceptic_plugin_policy_init(policy_plugin_string_t *err) {
  char message[512];
  size_t used = 0;
  message[0] = '\0';

  // Unknown keys, all named in one message.
  policy_plugin_list_string_t keys;
  sceptic_host_config_keys(&keys);
  size_t unknown = 0;
  for (size_t i = 0; i < keys.len; i++) {
    const policy_plugin_string_t *k = &keys.ptr[i];
    if (k->len == strlen(SETTING) && memcmp(k->ptr, SETTING, k->len) == 0) {
      continue;
    }
    int shown = k->len > 64 ? 64 : (int)k->len;
    int n = snprintf(message + used, sizeof message - used, "%s\"%.*s\"",
                     unknown == 0 ? "min-key-c has no setting " : ", ", shown,
                     (const char *)k->ptr);
    if (n > 0 && (size_t)n < sizeof message - used) {
      used += (size_t)n;
    }
    unknown++;
  }
  policy_plugin_list_string_free(&keys);
  if (unknown > 0) {
    snprintf(message + used, sizeof message - used, " (known: " SETTING ")");
    set_string(err, message);
    return false;
  }

  if (read_min_bits(message, sizeof message) == 0) {
    set_string(err, message);
    return false;
  }
  return true;
}

void exports_sceptic_plugin_policy_evaluate(exports_sceptic_plugin_policy_request_t *request,
                                            exports_sceptic_plugin_policy_decision_t *ret) {
  char message[256];
  uint32_t min_bits = read_min_bits(message, sizeof message);
  uint32_t bits = request->csr.key_bits;
  if (min_bits == 0) {
    // init refuses this configuration; deny rather than guess.
    ret->tag = SCEPTIC_TYPES_TYPES_DECISION_DENY;
    ret->val.deny.fail_info = SCEPTIC_TYPES_TYPES_FAIL_INFO_BAD_REQUEST;
    set_string(&ret->val.deny.reason, message);
  } else if (bits < min_bits) {
    int shown = request->csr.key_algorithm.len > 16 ? 16 : (int)request->csr.key_algorithm.len;
    snprintf(message, sizeof message,
             "the CSR's %.*s key has %u bits, fewer than the %u bits min-key-c requires",
             shown, (const char *)request->csr.key_algorithm.ptr, bits, min_bits);
    ret->tag = SCEPTIC_TYPES_TYPES_DECISION_DENY;
    ret->val.deny.fail_info = SCEPTIC_TYPES_TYPES_FAIL_INFO_BAD_REQUEST;
    set_string(&ret->val.deny.reason, message);
  } else {
    ret->tag = SCEPTIC_TYPES_TYPES_DECISION_ABSTAIN;
  }
  exports_sceptic_plugin_policy_request_free(request);
}
