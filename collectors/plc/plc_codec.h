/*
 * plc_codec.h — pure encoders and decoders of ringhub-collect-plc: Modbus register
 * values (type, byte/word order, scale) and the carousel's 2-byte status reply.
 *
 * No I/O, no allocation, no global state: every function here is safe on any thread and
 * is what the bounded fuzz test (plc_codec_test.c) hammers. Whatever bytes a PLC sends,
 * a decoder returns a value or an error, never reads past what it was given.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum plc_area {
        PLC_AREA_COIL,     /* read/write bits, FC 1/5/15 */
        PLC_AREA_DISCRETE, /* read-only bits, FC 2 */
        PLC_AREA_HOLDING,  /* read/write registers, FC 3/6/16 */
        PLC_AREA_INPUT,    /* read-only registers, FC 4 */
        PLC_AREA_NONE,
};

enum plc_type {
        PLC_T_BOOL,
        PLC_T_INT16,
        PLC_T_UINT16,
        PLC_T_INT32,
        PLC_T_UINT32,
        PLC_T_INT64,
        PLC_T_UINT64,
        PLC_T_FLOAT32,
        PLC_T_FLOAT64,
        PLC_T_BIT, /* one bit of a register */
};

/* Bytes A B C D … as they appear in the registers, Telegraf's names. */
enum plc_order {
        PLC_ORDER_ABCD, /* big-endian words, big-endian bytes (Modbus default) */
        PLC_ORDER_CDAB, /* low word first ("word swap") */
        PLC_ORDER_BADC, /* bytes swapped inside each register */
        PLC_ORDER_DCBA, /* fully little-endian */
};

/* The decoded form of one tag, what a `tag` record carries. */
enum plc_kind { PLC_V_BOOL, PLC_V_INT, PLC_V_UINT, PLC_V_FLOAT };

struct plc_value {
        enum plc_kind kind;
        bool b;
        int64_t i;
        uint64_t u;
        double f; /* the engineering value: raw × scale + offset for every kind */
};

/* How a tag is laid out; the map (plc_map.h) fills one per tag. */
struct plc_layout {
        enum plc_area area;
        enum plc_type type;
        enum plc_order order;
        uint8_t bit; /* PLC_T_BIT: 0..15 */
        double scale, offset;
};

const char *plc_area_name(enum plc_area a);
int plc_area_from_name(const char *s, enum plc_area *ret);
const char *plc_type_name(enum plc_type t);
int plc_type_from_name(const char *s, enum plc_type *ret);
const char *plc_order_name(enum plc_order o);
int plc_order_from_name(const char *s, enum plc_order *ret);
/* OPC UA style word for the tag record's data_type (Double when a scale applies). */
const char *plc_type_data_type(const struct plc_layout *l);
/* Registers (or bits) a value of this type covers: 1, 2 or 4. */
unsigned plc_type_width(enum plc_type t);
bool plc_area_is_bits(enum plc_area a);
bool plc_area_writable(enum plc_area a);
/* A type that fits the area (bits carry only bool). */
bool plc_type_fits_area(enum plc_type t, enum plc_area a);

/*
 * Address: "0".."65535" 0-based, or a vendor 1-based form "00001", "10001", "30001",
 * "40001" (5 digits) or "000001".."465536" (6 digits) whose first digit names the area.
 * *area in: the area the tag names (PLC_AREA_NONE: none); a vendor form is taken as one
 * when the area is not named or matches it. Out: the area and the 0-based address.
 */
int plc_address_parse(const char *s, enum plc_area *area, uint16_t *ret);

/* n (1, 2 or 4) registers in `order` as one big-endian integer. */
uint64_t plc_regs_to_u64(const uint16_t *regs, unsigned n, enum plc_order order);
void plc_u64_to_regs(uint64_t v, unsigned n, enum plc_order order, uint16_t *regs);

/*
 * Decode a tag from `n` registers (register areas) or `n` bits as bytes 0/1 (bit areas)
 * starting at the tag's own address. -EBADMSG when n is shorter than the type.
 */
int plc_decode(const struct plc_layout *l, const uint16_t *regs, const uint8_t *bits, size_t n,
               struct plc_value *ret);

/* A value to write, as the command's JSON gave it. */
enum plc_input_kind { PLC_IN_BOOL, PLC_IN_INT, PLC_IN_DOUBLE };
struct plc_input {
        enum plc_input_kind kind;
        bool b;
        int64_t i;
        double d;
};

/*
 * Encode a value to write, reversing scale and offset. Integer types take the nearest
 * integer and are range-checked (-ERANGE); NaN, infinities and a bool for a number (or a
 * number other than 0/1 for a bool) are refused (-EINVAL). Registers go to regs
 * (plc_type_width of them), a bit to *bit; PLC_T_BIT sets *bit (the caller does the
 * read-modify-write of the register).
 */
int plc_encode(const struct plc_layout *l, const struct plc_input *in, uint16_t regs[4], bool *bit);

/* ---- carousel raw byte protocol (PROTOCOLS.md §carousel PLC) ---- */

#define CAROUSEL_CMD_STATUS 0
#define CAROUSEL_CMD_MOVE   1

#define CAROUSEL_READY     0x01u
#define CAROUSEL_RUN       0x02u
#define CAROUSEL_REMOTE    0x04u
#define CAROUSEL_ALARM     0x08u
#define CAROUSEL_ESTOP_OK  0x10u /* active-low: 0 = emergency stop pressed */
#define CAROUSEL_VFD_ERROR 0x20u
#define CAROUSEL_POS_ERROR 0x40u
#define CAROUSEL_DIRECTION 0x80u

struct carousel_status {
        uint8_t raw, position;
        bool ready, running, remote, alarm, estop, vfd_error, position_error, direction;
};

/* Request bytes for a command: 1 for STATUS, 2 otherwise. Returns the length. */
size_t carousel_request(uint8_t command, uint8_t argument, uint8_t out[2]);
/* A reply must be exactly 2 bytes: -EBADMSG otherwise (short or long). */
int carousel_decode(const uint8_t *buf, size_t n, struct carousel_status *ret);
/* Status bits of a raw byte (also used for Modbus-mapped machines' status registers). */
void carousel_bits(uint8_t raw, struct carousel_status *st);
