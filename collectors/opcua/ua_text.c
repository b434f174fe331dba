/*
 * ua_text.c — OPC UA values in text: NodeIds ("ns=1;s=Plant.Temp"), Variants, DateTime.
 *
 * Part of the OPC UA client library (no ring, no I/O). Parses the NodeId forms an
 * operator writes in the configuration (i=, s=, g=, b=, with ns= or nsu=) and prints
 * NodeIds and values back for records, logs and tools; also NodeId equality, numeric
 * values of scalars and the UA DateTime ↔ Unix time conversion. The parser validates
 * and points into the caller's text; nothing here allocates, and every output is
 * truncated to the buffer it was given. The binary forms are in ua_types.c / ua_enc.c.
 */
#include "ua_types.h"
#include "util.h"

#define MIN_SIZE(a, b) ((a) < (b) ? (a) : (b))

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- text forms ---- */

static int b64_val(char ch)
{
        if (ch >= 'A' && ch <= 'Z')
                return ch - 'A';
        if (ch >= 'a' && ch <= 'z')
                return ch - 'a' + 26;
        if (ch >= '0' && ch <= '9')
                return ch - '0' + 52;
        if (ch == '+' || ch == '-')
                return 62;
        if (ch == '/' || ch == '_')
                return 63;
        return -1;
}

static int hexval(char ch)
{
        if (ch >= '0' && ch <= '9')
                return ch - '0';
        if (ch >= 'a' && ch <= 'f')
                return ch - 'a' + 10;
        if (ch >= 'A' && ch <= 'F')
                return ch - 'A' + 10;
        return -1;
}

int ua_nodeid_parse(const char *text, struct ua_nodeid *ret, const char **ret_ns_uri,
                    size_t *ret_ns_uri_len)
{
        struct ua_nodeid id = { .str = UA_STRING_NULL };
        const char *p = text;
        const char *uri = NULL;
        size_t uri_len = 0;

        if (!text)
                return -EINVAL;
        if (strncmp(p, "ns=", 3) == 0) {
                char *end;
                errno = 0;
                unsigned long ns = strtoul(p + 3, &end, 10);
                if (errno || end == p + 3 || *end != ';' || ns > 0xffff)
                        return -EINVAL;
                id.ns = (uint16_t)ns;
                p = end + 1;
        } else if (strncmp(p, "nsu=", 4) == 0) {
                /* The URI runs to the last ";x=" before the identifier. */
                const char *semi = NULL;
                for (const char *q = p + 4; *q; q++)
                        if (q[0] == ';' && q[1] && strchr("isgb", q[1]) && q[2] == '=') {
                                semi = q;
                                break;
                        }
                if (!semi || semi == p + 4)
                        return -EINVAL;
                uri = p + 4;
                uri_len = (size_t)(semi - uri);
                p = semi + 1;
        }
        if (!p[0] || p[1] != '=')
                return -EINVAL;
        const char *v = p + 2;
        switch (p[0]) {
        case 'i': {
                char *end;
                errno = 0;
                unsigned long long n = strtoull(v, &end, 10);
                if (errno || end == v || *end || n > UINT32_MAX || *v == '-' || *v == '+')
                        return -EINVAL;
                id.kind = UA_NODEID_NUMERIC;
                id.num = (uint32_t)n;
                break;
        }
        case 's':
                if (strlen(v) > 4096)
                        return -EINVAL;
                id.kind = UA_NODEID_STRING;
                id.str = ua_str(v);
                break;
        case 'g': {
                /* 8-4-4-4-12 hex; Data1..3 little-endian on the wire. */
                static const int group[] = { 8, 4, 4, 4, 12 };
                uint8_t raw[16];
                unsigned k = 0;
                const char *q = v;
                for (unsigned gi = 0; gi < 5; gi++) {
                        for (int j = 0; j < group[gi]; j += 2) {
                                int hi = hexval(q[0]), lo = hi < 0 ? -1 : hexval(q[1]);
                                if (hi < 0 || lo < 0)
                                        return -EINVAL;
                                raw[k++] = (uint8_t)(hi << 4 | lo);
                                q += 2;
                        }
                        if (gi < 4 && *q++ != '-')
                                return -EINVAL;
                }
                if (*q)
                        return -EINVAL;
                id.kind = UA_NODEID_GUID;
                id.guid[0] = raw[3], id.guid[1] = raw[2], id.guid[2] = raw[1], id.guid[3] = raw[0];
                id.guid[4] = raw[5], id.guid[5] = raw[4];
                id.guid[6] = raw[7], id.guid[7] = raw[6];
                memcpy(id.guid + 8, raw + 8, 8);
                break;
        }
        case 'b':
                /* Validated here; decoded into the caller's storage by the owner of text. */
                for (const char *q = v; *q; q++)
                        if (b64_val(*q) < 0 && *q != '=')
                                return -EINVAL;
                id.kind = UA_NODEID_BYTESTRING;
                id.str = ua_str(v); /* base64 text; see ua_nodeid_format */
                break;
        default:
                return -EINVAL;
        }
        *ret = id;
        if (ret_ns_uri)
                *ret_ns_uri = uri;
        if (ret_ns_uri_len)
                *ret_ns_uri_len = uri_len;
        if (uri && !ret_ns_uri)
                return -EINVAL;
        return 0;
}

char *ua_nodeid_format(const struct ua_nodeid *id, char *buf, size_t size)
{
        char ns[16] = "";
        char tmp[128];
        if (size == 0)
                return buf;
        if (id->ns)
                snprintf(ns, sizeof(ns), "ns=%u;", id->ns);
        switch (id->kind) {
        case UA_NODEID_NUMERIC:
                snprintf(buf, size, "%si=%" PRIu32, ns, id->num);
                break;
        case UA_NODEID_STRING:
                snprintf(buf, size, "%ss=%s", ns, ua_string_copy(id->str, tmp, sizeof(tmp)));
                break;
        case UA_NODEID_GUID: {
                const uint8_t *g = id->guid;
                snprintf(buf, size,
                         "%sg=%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                         ns, g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9], g[10],
                         g[11], g[12], g[13], g[14], g[15]);
                break;
        }
        case UA_NODEID_BYTESTRING: {
                static const char b64[] =
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
                size_t o = 0, n = id->str.len > 0 ? (size_t)id->str.len : 0;
                for (size_t i = 0; i < n && o + 5 < sizeof(tmp); i += 3) {
                        uint32_t w = (uint32_t)id->str.data[i] << 16;
                        if (i + 1 < n)
                                w |= (uint32_t)id->str.data[i + 1] << 8;
                        if (i + 2 < n)
                                w |= id->str.data[i + 2];
                        tmp[o++] = b64[w >> 18 & 63];
                        tmp[o++] = b64[w >> 12 & 63];
                        tmp[o++] = i + 1 < n ? b64[w >> 6 & 63] : '=';
                        tmp[o++] = i + 2 < n ? b64[w & 63] : '=';
                }
                tmp[o] = 0;
                snprintf(buf, size, "%sb=%s", ns, tmp);
                break;
        }
        default:
                snprintf(buf, size, "?");
        }
        return buf;
}

bool ua_nodeid_eq(const struct ua_nodeid *a, const struct ua_nodeid *b)
{
        if (a->ns != b->ns || a->kind != b->kind)
                return false;
        switch (a->kind) {
        case UA_NODEID_NUMERIC:
                return a->num == b->num;
        case UA_NODEID_GUID:
                return memcmp(a->guid, b->guid, 16) == 0;
        default:
                return a->str.len == b->str.len &&
                       (a->str.len <= 0 ||
                        memcmp(a->str.data, b->str.data, (size_t)a->str.len) == 0);
        }
}

const char *ua_builtin_name(unsigned type)
{
        static const char *const names[] = {
                "Null",           "Boolean",         "SByte",
                "Byte",           "Int16",           "UInt16",
                "Int32",          "UInt32",          "Int64",
                "UInt64",         "Float",           "Double",
                "String",         "DateTime",        "Guid",
                "ByteString",     "XmlElement",      "NodeId",
                "ExpandedNodeId", "StatusCode",      "QualifiedName",
                "LocalizedText",  "ExtensionObject", "DataValue",
                "Variant",        "DiagnosticInfo",
        };
        return type < sizeof(names) / sizeof(names[0]) ? names[type] : "Unknown";
}

double ua_variant_to_double(const struct ua_variant *v)
{
        if (v->is_array)
                return NAN;
        switch (v->type) {
        case UA_T_BOOLEAN:
                return v->v.b ? 1.0 : 0.0;
        case UA_T_SBYTE:
        case UA_T_INT16:
        case UA_T_INT32:
        case UA_T_INT64:
                return (double)v->v.i;
        case UA_T_BYTE:
        case UA_T_UINT16:
        case UA_T_UINT32:
        case UA_T_UINT64:
                return (double)v->v.u;
        case UA_T_FLOAT:
        case UA_T_DOUBLE:
                return v->v.d;
        default:
                return NAN;
        }
}

static size_t scalar_format(const struct ua_variant *v, char *buf, size_t size)
{
        char tmp[128];
        int n;
        switch (v->type) {
        case UA_T_NULL:
                n = snprintf(buf, size, "null");
                break;
        case UA_T_BOOLEAN:
                n = snprintf(buf, size, "%s", v->v.b ? "true" : "false");
                break;
        case UA_T_SBYTE:
        case UA_T_INT16:
        case UA_T_INT32:
        case UA_T_INT64:
                n = snprintf(buf, size, "%" PRId64, v->v.i);
                break;
        case UA_T_BYTE:
        case UA_T_UINT16:
        case UA_T_UINT32:
        case UA_T_UINT64:
                n = snprintf(buf, size, "%" PRIu64, v->v.u);
                break;
        case UA_T_STATUSCODE:
                n = snprintf(buf, size, "%s", ua_status_name((uint32_t)v->v.u, tmp, sizeof(tmp)));
                break;
        case UA_T_FLOAT:
        case UA_T_DOUBLE:
                n = (int)fmt_double(buf, size, v->v.d);
                break;
        case UA_T_DATETIME:
                n = snprintf(buf, size, "%" PRId64, v->v.dt);
                break;
        case UA_T_STRING:
        case UA_T_XMLELEMENT:
                n = snprintf(buf, size, "%s", ua_string_copy(v->v.s, tmp, sizeof(tmp)));
                break;
        case UA_T_NODEID:
                n = snprintf(buf, size, "%s", ua_nodeid_format(&v->v.nodeid, tmp, sizeof(tmp)));
                break;
        case UA_T_QUALIFIEDNAME:
                n = snprintf(buf, size, "%u:%s", v->v.qn.ns,
                             ua_string_copy(v->v.qn.name, tmp, sizeof(tmp)));
                break;
        case UA_T_LOCALIZEDTEXT:
                n = snprintf(buf, size, "%s", ua_string_copy(v->v.lt.text, tmp, sizeof(tmp)));
                break;
        default:
                n = snprintf(buf, size, "<%s>", ua_builtin_name(v->type));
        }
        return n < 0 ? 0 : (size_t)n;
}

char *ua_variant_format(const struct ua_variant *v, char *buf, size_t size)
{
        if (size == 0)
                return buf;
        buf[0] = 0;
        if (!v->is_array) {
                scalar_format(v, buf, size);
                return buf;
        }
        size_t o = 0, pos = 0;
        struct ua_variant el;
        bool first = true;
        buf[o++] = '[';
        while (o + 2 < size && ua_variant_array_next(v, &pos, &el)) {
                if (!first)
                        buf[o++] = ',';
                first = false;
                o += scalar_format(&el, buf + o, size - o - 1);
                if (o >= size - 1)
                        o = size - 2;
        }
        if (o + 1 < size)
                buf[o++] = ']';
        buf[MIN_SIZE(o, size - 1)] = 0;
        return buf;
}

uint64_t ua_datetime_to_unix_ns(int64_t dt)
{
        if (dt <= UA_DATETIME_UNIX)
                return 0;
        if (dt == INT64_MAX)
                return UINT64_MAX;
        uint64_t ticks = (uint64_t)(dt - UA_DATETIME_UNIX);
        if (ticks > UINT64_MAX / 100)
                return UINT64_MAX;
        return ticks * 100;
}

int64_t ua_datetime_from_unix_ns(uint64_t ns)
{
        if (ns == 0)
                return 0;
        return (int64_t)(ns / 100) + UA_DATETIME_UNIX;
}
