/*
 * vmdesc_fuzz.c: the VM-description JSON (the stream's trailer, spec §10.2)
 * as the description-driven decoder reads it, apart from the stream grammar.
 * The input is the trailer text, a NUL byte, then one section payload (JSON
 * text holds no NUL, so the first one splits them; without one the payload is
 * empty).  Each of the first DEVICES_MAX entries of "devices", and the 10.x
 * "configuration" entry, decodes the payload with mig_analyze_section, as if
 * it were that device's FULL section at stream offset PAYLOAD_OFFSET.
 * STYLE R25: one input format, no I/O, nothing kept between inputs.
 *
 * Oracles besides the sanitizers (mig_analyze.h's contract):
 * - MIG_OK comes with a JSON object and no error; a rejection comes with no
 *   object, the same code in the error, an offset inside the payload and a
 *   path that starts with the entry's "name";
 * - decoding is a function of (description, payload): a second decode gives
 *   the same verdict, error and (json_equal) object.
 */
#include "sim_base.h"

#include "mig_analyze.h"

#include <jansson.h>

#define DEVICES_MAX 4u                     /* entries decoded per input */
#define PAYLOAD_OFFSET UINT64_C(0x1000)    /* where the payload "starts" in the stream */
#define NAME_BYTES_MAX 64u                 /* longer names are replaced, so paths fit */
#define FUZZ_INPUT_BYTES_MAX (UINT32_C(1) << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode_entry(const json_t *entry, const uint8_t *payload, size_t count)
{
  const char *name = json_string_value(json_object_get(entry, "name"));
  if (name == NULL || strlen(name) > NAME_BYTES_MAX) {
    name = "(device)";
  }
  json_t *first = NULL, *second = NULL;
  struct mig_error error, error_again;
  enum mig_err err = mig_analyze_section(entry, payload, count, PAYLOAD_OFFSET, name, &first,
                                         &error);
  enum mig_err err_again = mig_analyze_section(entry, payload, count, PAYLOAD_OFFSET, name,
                                               &second, &error_again);
  SIM_ASSERT(err == err_again);
  SIM_ASSERT(error.code == err);
  if (err == MIG_OK) {
    SIM_ASSERT(json_is_object(first) && json_is_object(second));
    SIM_ASSERT(json_equal(first, second));
  } else {
    SIM_ASSERT(first == NULL && second == NULL);
    SIM_ASSERT(error.offset >= PAYLOAD_OFFSET && error.offset <= PAYLOAD_OFFSET + count);
    SIM_ASSERT(strncmp(error.path, name, strlen(name)) == 0);
    SIM_ASSERT(error.offset == error_again.offset);
    SIM_ASSERT(strcmp(error.path, error_again.path) == 0);
  }
  json_decref(first);
  json_decref(second);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > FUZZ_INPUT_BYTES_MAX) return 0;
  const uint8_t *split = memchr(data, 0, size);
  size_t text_bytes = split != NULL ? (size_t)(split - data) : size;
  const uint8_t *payload = split != NULL ? split + 1 : data + size;
  size_t count = size - text_bytes - (split != NULL ? 1 : 0);
  json_error_t json_error;
  json_t *root = json_loadb((const char *)data, text_bytes, JSON_REJECT_DUPLICATES, &json_error);
  if (root == NULL) return 0;
  const json_t *devices = json_object_get(root, "devices");
  for (size_t i = 0; i < json_array_size(devices) && i < DEVICES_MAX; i++) {
    decode_entry(json_array_get(devices, i), payload, count);
  }
  const json_t *configuration = json_object_get(root, "configuration");
  if (configuration != NULL) decode_entry(configuration, payload, count);
  json_decref(root);
  return 0;
}
