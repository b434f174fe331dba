/*
 * ua_types.h — OPC UA binary encoding of the built-in types (Part 6 §5.2).
 *
 * Part of the OPC UA client library linked into ringhub-collect-opcua; it knows nothing
 * of the ring. Decoding is zero-copy: strings, byte strings and array bodies are views
 * into the message buffer, valid as long as that buffer. Every read is bounds-checked
 * through a `struct ua_dec` cursor whose error sticks (once set, every later read returns
 * zero and consumes nothing), array counts are checked against the bytes left before any
 * loop, and nesting (Variant in Variant, DiagnosticInfo) is depth-limited, so a hostile
 * peer can never make a decoder read out of bounds, allocate, or loop without end.
 * Encoding appends to a `struct ua_enc` buffer that grows up to a fixed maximum.
 * One file per section below: ua_types.c (strings, decoding), ua_enc.c (encoding),
 * ua_text.c (text forms) and ua_status.c (status codes).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UA_MAX_DEPTH     8u       /* nested Variant / DiagnosticInfo / DataValue */
#define UA_MAX_ARRAY     1000000u /* elements in one array, before the byte check */
#define UA_DATETIME_UNIX INT64_C(116444736000000000) /* 1601→1970 in 100 ns ticks */

/* Built-in type ids (Variant encoding mask, low 6 bits). */
enum ua_builtin {
        UA_T_NULL = 0,
        UA_T_BOOLEAN = 1,
        UA_T_SBYTE = 2,
        UA_T_BYTE = 3,
        UA_T_INT16 = 4,
        UA_T_UINT16 = 5,
        UA_T_INT32 = 6,
        UA_T_UINT32 = 7,
        UA_T_INT64 = 8,
        UA_T_UINT64 = 9,
        UA_T_FLOAT = 10,
        UA_T_DOUBLE = 11,
        UA_T_STRING = 12,
        UA_T_DATETIME = 13,
        UA_T_GUID = 14,
        UA_T_BYTESTRING = 15,
        UA_T_XMLELEMENT = 16,
        UA_T_NODEID = 17,
        UA_T_EXPANDEDNODEID = 18,
        UA_T_STATUSCODE = 19,
        UA_T_QUALIFIEDNAME = 20,
        UA_T_LOCALIZEDTEXT = 21,
        UA_T_EXTENSIONOBJECT = 22,
        UA_T_DATAVALUE = 23,
        UA_T_VARIANT = 24,
        UA_T_DIAGNOSTICINFO = 25,
        UA_T_MAX = 25,
};

/* A String or ByteString view: len -1 is null. data is not NUL-terminated. */
struct ua_string {
        int32_t len;
        const uint8_t *data;
};
#define UA_STRING_NULL ((struct ua_string){ .len = -1, .data = NULL })
struct ua_string ua_str(const char *s); /* view of a C string (NULL → null string) */
bool ua_string_eq(struct ua_string a, const char *s);
/* Copy into a C buffer, terminated, replacing control bytes; returns buf. */
char *ua_string_copy(struct ua_string s, char *buf, size_t size);

enum ua_nodeid_kind {
        UA_NODEID_NUMERIC = 0,
        UA_NODEID_STRING = 3,
        UA_NODEID_GUID = 4,
        UA_NODEID_BYTESTRING = 5
};

struct ua_nodeid {
        uint16_t ns;
        uint8_t kind; /* enum ua_nodeid_kind */
        uint32_t num;
        struct ua_string str; /* string and bytestring forms */
        uint8_t guid[16];
};
#define UA_NODEID_NUM(n, id) \
        ((struct ua_nodeid){ .ns = (n), .kind = UA_NODEID_NUMERIC, .num = (id) })

struct ua_expanded_nodeid {
        struct ua_nodeid id;
        struct ua_string ns_uri; /* null when absent */
        uint32_t server_index;
};

struct ua_qualified_name {
        uint16_t ns;
        struct ua_string name;
};

struct ua_localized_text {
        struct ua_string locale, text;
};

struct ua_extension_object {
        struct ua_nodeid type_id;
        uint8_t encoding; /* 0 none, 1 binary body, 2 XML body */
        struct ua_string body;
};

/*
 * A Variant. Scalars are decoded into the union; arrays keep a view of their encoded
 * elements (walk them with ua_variant_array_next()).
 */
struct ua_variant {
        uint8_t type; /* enum ua_builtin; UA_T_NULL for an empty variant */
        bool is_array;
        int32_t count;             /* array length (-1 null array) */
        const uint8_t *array_data; /* encoded elements */
        size_t array_size;
        union {
                bool b;
                int64_t i;  /* SByte, Int16, Int32, Int64 */
                uint64_t u; /* Byte, UInt16, UInt32, UInt64, StatusCode */
                double d;   /* Float, Double */
                int64_t dt; /* DateTime */
                struct ua_string s;
                struct ua_nodeid nodeid;
                struct ua_expanded_nodeid xnodeid;
                struct ua_qualified_name qn;
                struct ua_localized_text lt;
                struct ua_extension_object eo;
                uint8_t guid[16];
        } v;
};

#define UA_DV_VALUE     0x01u
#define UA_DV_STATUS    0x02u
#define UA_DV_SOURCE_TS 0x04u
#define UA_DV_SERVER_TS 0x08u
#define UA_DV_SOURCE_PS 0x10u
#define UA_DV_SERVER_PS 0x20u

struct ua_datavalue {
        uint8_t mask;
        struct ua_variant value;
        uint32_t status;
        int64_t source_ts, server_ts; /* UA DateTime, 0 when absent */
        uint16_t source_ps, server_ps;
};

/* ---- decoding ---- */

struct ua_dec {
        const uint8_t *p, *end;
        int err; /* 0 or -EBADMSG / -E2BIG; sticky */
        unsigned depth;
};

static inline void ua_dec_init(struct ua_dec *d, const void *buf, size_t len)
{
        static const uint8_t empty[1];
        if (!buf) /* a null view decodes as empty (never NULL + 0) */
                buf = empty, len = 0;
        d->p = buf;
        d->end = (const uint8_t *)buf + len;
        d->err = 0;
        d->depth = 0;
}
static inline size_t ua_dec_left(const struct ua_dec *d)
{
        return (size_t)(d->end - d->p);
}
void ua_dec_fail(struct ua_dec *d, int err);

uint8_t ua_dec_u8(struct ua_dec *d);
bool ua_dec_bool(struct ua_dec *d);
uint16_t ua_dec_u16(struct ua_dec *d);
uint32_t ua_dec_u32(struct ua_dec *d);
int32_t ua_dec_i32(struct ua_dec *d);
uint64_t ua_dec_u64(struct ua_dec *d);
int64_t ua_dec_i64(struct ua_dec *d);
double ua_dec_double(struct ua_dec *d);
float ua_dec_float(struct ua_dec *d);
struct ua_string ua_dec_string(struct ua_dec *d);
void ua_dec_skip(struct ua_dec *d, size_t n);
void ua_dec_guid(struct ua_dec *d, uint8_t out[16]);
void ua_dec_nodeid(struct ua_dec *d, struct ua_nodeid *out);
void ua_dec_expanded_nodeid(struct ua_dec *d, struct ua_expanded_nodeid *out);
void ua_dec_qualified_name(struct ua_dec *d, struct ua_qualified_name *out);
void ua_dec_localized_text(struct ua_dec *d, struct ua_localized_text *out);
void ua_dec_extension_object(struct ua_dec *d, struct ua_extension_object *out);
void ua_dec_variant(struct ua_dec *d, struct ua_variant *out);
void ua_dec_datavalue(struct ua_dec *d, struct ua_datavalue *out);
void ua_dec_diagnostic_info(struct ua_dec *d); /* decoded and dropped */
/*
 * An array length: -1 (null) or 0..n, where each element needs at least min_elem bytes
 * of what is left. A larger count sets the error and returns 0, so the caller's loop
 * is bounded by the message size.
 */
int32_t ua_dec_array_len(struct ua_dec *d, size_t min_elem);
/* Skip one encoded value of a built-in type. */
void ua_dec_skip_builtin(struct ua_dec *d, unsigned type);
/* Skip an array of DiagnosticInfo (the tail of most responses). */
void ua_dec_skip_diag_array(struct ua_dec *d);

/* Walk an array Variant: *pos starts at 0; fills elem (a scalar) and returns false at the end. */
bool ua_variant_array_next(const struct ua_variant *v, size_t *pos, struct ua_variant *elem);

/* ---- encoding ---- */

struct ua_enc {
        uint8_t *buf;
        size_t len, cap, max;
        int err; /* 0 or -ENOMEM / -EMSGSIZE; sticky */
};

void ua_enc_init(struct ua_enc *e, size_t max);
void ua_enc_free(struct ua_enc *e);
void ua_enc_reset(struct ua_enc *e);
uint8_t *ua_enc_reserve(struct ua_enc *e, size_t n); /* NULL on error */
void ua_enc_bytes(struct ua_enc *e, const void *p, size_t n);
void ua_enc_u8(struct ua_enc *e, uint8_t v);
void ua_enc_bool(struct ua_enc *e, bool v);
void ua_enc_u16(struct ua_enc *e, uint16_t v);
void ua_enc_u32(struct ua_enc *e, uint32_t v);
void ua_enc_i32(struct ua_enc *e, int32_t v);
void ua_enc_u64(struct ua_enc *e, uint64_t v);
void ua_enc_i64(struct ua_enc *e, int64_t v);
void ua_enc_double(struct ua_enc *e, double v);
void ua_enc_float(struct ua_enc *e, float v);
void ua_enc_string(struct ua_enc *e, struct ua_string s);
void ua_enc_cstring(struct ua_enc *e, const char *s);             /* NULL → null string */
void ua_enc_nodeid(struct ua_enc *e, const struct ua_nodeid *id); /* smallest form */
void ua_enc_qualified_name(struct ua_enc *e, const struct ua_qualified_name *q);
void ua_enc_localized_text(struct ua_enc *e, const struct ua_localized_text *t);
void ua_enc_variant(struct ua_enc *e, const struct ua_variant *v); /* scalars only */
void ua_enc_datavalue(struct ua_enc *e, const struct ua_datavalue *dv);
/* An ExtensionObject with a binary body produced by body(e, ud) after its length. */
void ua_enc_extension_object(struct ua_enc *e, uint32_t type_id,
                             void (*body)(struct ua_enc *e, const void *ud), const void *ud);
void ua_enc_null_extension_object(struct ua_enc *e);
void ua_enc_patch_u32(struct ua_enc *e, size_t at, uint32_t v);

/* ---- text forms ---- */

/*
 * Parse "ns=1;s=Plant.Temp", "i=85", "ns=2;g=…", "ns=1;b=<base64>", or with a namespace
 * URI "nsu=urn:x;s=Name" (*ns_uri then points into text, ns is 0 until resolved).
 * String identifiers point into text, which must outlive the id. Returns 0 or -EINVAL.
 */
int ua_nodeid_parse(const char *text, struct ua_nodeid *ret, const char **ret_ns_uri,
                    size_t *ret_ns_uri_len);
/* "ns=1;s=Name" form, truncated to size. Returns buf. */
char *ua_nodeid_format(const struct ua_nodeid *id, char *buf, size_t size);
bool ua_nodeid_eq(const struct ua_nodeid *a, const struct ua_nodeid *b);

const char *ua_builtin_name(unsigned type);
/* Value as text: scalars as numbers/strings, arrays as "[a,b,…]" (truncated). */
char *ua_variant_format(const struct ua_variant *v, char *buf, size_t size);
/* Numeric value of a scalar (NaN when not numeric). */
double ua_variant_to_double(const struct ua_variant *v);

/* UA DateTime ↔ Unix nanoseconds (0 ↔ 0). */
uint64_t ua_datetime_to_unix_ns(int64_t dt);
int64_t ua_datetime_from_unix_ns(uint64_t ns);

/* ---- status codes ---- */

#define UA_GOOD                       0x00000000u
#define UA_BAD_UNEXPECTEDERROR        0x80010000u
#define UA_BAD_INTERNALERROR          0x80020000u
#define UA_BAD_COMMUNICATIONERROR     0x80050000u
#define UA_BAD_DECODINGERROR          0x80070000u
#define UA_BAD_TIMEOUT                0x800A0000u
#define UA_BAD_SERVICEUNSUPPORTED     0x800B0000u
#define UA_BAD_SHUTDOWN               0x800C0000u
#define UA_BAD_SERVERNOTCONNECTED     0x800D0000u
#define UA_BAD_NOSUBSCRIPTION         0x80790000u
#define UA_BAD_TOOMANYPUBLISHREQUESTS 0x80780000u
#define UA_BAD_SESSIONIDINVALID       0x80250000u
#define UA_BAD_SESSIONCLOSED          0x80260000u
#define UA_BAD_SECURECHANNELIDINVALID 0x80220000u
#define UA_BAD_NODEIDINVALID          0x80330000u
#define UA_BAD_NODEIDUNKNOWN          0x80340000u
#define UA_BAD_ATTRIBUTEIDINVALID     0x80350000u
#define UA_BAD_NOTWRITABLE            0x803B0000u
#define UA_BAD_TYPEMISMATCH           0x80740000u
#define UA_BAD_IDENTITYTOKENINVALID   0x80200000u
#define UA_BAD_IDENTITYTOKENREJECTED  0x80210000u
#define UA_BAD_USERACCESSDENIED       0x801F0000u
#define UA_BAD_TCPMESSAGETOOLARGE     0x80800000u
#define UA_BAD_DEADBANDFILTERINVALID  0x808E0000u
#define UA_BAD_WAITINGFORINITIALDATA  0x80320000u

static inline bool ua_status_good(uint32_t s)
{
        return (s >> 30) == 0;
}
static inline bool ua_status_bad(uint32_t s)
{
        return (s >> 30) >= 2;
}
/* "BadNodeIdUnknown" or "0x80340000" in buf; always a usable string. */
const char *ua_status_name(uint32_t status, char *buf, size_t size);
/* "Good", "Uncertain" or "Bad". */
const char *ua_status_quality(uint32_t status);
