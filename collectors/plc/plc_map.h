/*
 * plc_map.h — the PLC collector's configuration: Modbus devices, tags and machines, read
 * from an INI map file (libinih) and from --machine flags, then planned into read blocks.
 *
 * Loaded once on the main thread before any device thread starts; read-only afterwards,
 * so every thread may read it without locks. Knows nothing of sockets or the ring.
 *
 * Map file (see docs in plc_map.c for every key):
 *   [defaults]       scan_time, timeout, byte_order, reconnect_max, merge_gap
 *   [device.NAME]    host, port, slave_id (unit_id), timeout, scan_time, byte_order
 *   [tag.NAME]       device, register (area), address, type, bit, byte_order, scale,
 *                    offset, unit, description, deadband, scan_time
 *   [machine.ID]     type = carousel | modbus, name, … (carousel: host, port, timeout,
 *                    estop_command, estop_argument; modbus: device, status_address, …)
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "plc_codec.h"

#define PLC_MAX_DEVICES  64u
#define PLC_MAX_MACHINES 64u
#define PLC_MAX_TAGS     10000u
#define PLC_MAX_REGS     125u  /* per read: Modbus limit for registers */
#define PLC_MAX_BITS     2000u /* per read: Modbus limit for coils and inputs */

struct plc_device_conf {
        char name[32];
        char host[64];
        uint16_t port;
        uint8_t unit;
        uint32_t timeout_ms, scan_ms;
        enum plc_order order;
        char endpoint[96]; /* modbus://host:port/unit */
        bool has_order, has_scan, has_timeout;
};

struct plc_tag_conf {
        char name[48];
        unsigned device;
        struct plc_layout layout;
        uint16_t address;
        double deadband;
        uint32_t scan_ms;
        char unit[16];
        char description[56];
        char node_id[32]; /* "holding:100" */
};

enum plc_machine_kind { PLC_MACHINE_CAROUSEL, PLC_MACHINE_MODBUS };

struct plc_reg_ref {
        bool set;
        enum plc_area area;
        uint16_t address;
};

struct plc_machine_conf {
        char id[32], name[48];
        enum plc_machine_kind kind;
        char host[48];
        uint16_t port;
        uint32_t timeout_ms, scan_ms;
        /* carousel: e-stop = this command byte and argument; estop_command < 0: none */
        int estop_command, estop_argument;
        /* modbus: on `device`; status (bits as the carousel's) and optional position */
        unsigned device;
        struct plc_reg_ref status, position, command, argument, estop;
        uint16_t move_command; /* written to `command` by `move` */
        uint16_t estop_value;  /* written to `estop` by `estop` */
};

struct plc_map {
        struct plc_device_conf devices[PLC_MAX_DEVICES];
        unsigned n_devices;
        struct plc_tag_conf *tags;
        unsigned n_tags, cap_tags;
        struct plc_machine_conf machines[PLC_MAX_MACHINES];
        unsigned n_machines;
        uint32_t default_scan_ms, default_timeout_ms, reconnect_max_ms;
        unsigned merge_gap; /* registers (or bits) of unused gap a merged read may span */
        enum plc_order default_order;
        struct plc_map_raw *raw; /* private to plc_map.c until plc_map_finish() */
        const char *path;        /* the map file, for messages ("--machine" without one) */
};

/* A planned read: one area of one device, ≤ 125 registers or ≤ 2000 bits. */
struct plc_block {
        unsigned device;
        enum plc_area area;
        uint16_t start, count;
        uint32_t scan_ms;
        unsigned *tags; /* tag indexes, sorted by address */
        unsigned n_tags;
        char label[48]; /* "holding 0-9" */
};

void plc_map_init(struct plc_map *m, uint32_t default_scan_ms);
/* Parse the map file into m (after plc_map_init); errors logged as FILE:LINE: … */
int plc_map_load(struct plc_map *m, const char *path);
/* --machine ID=HOST:PORT[,name=NAME] → a carousel machine. */
int plc_map_add_machine_arg(struct plc_map *m, const char *spec);
/* Check what the file and flags gave together; fill defaults. */
int plc_map_finish(struct plc_map *m);
void plc_map_free(struct plc_map *m);

int plc_machine_find(const struct plc_map *m, const char *id);
int plc_tag_find(const struct plc_map *m, const char *name);

/*
 * Merge a device's tags into blocks: same area and scan time, contiguous (or within
 * merge_gap), at most PLC_MAX_REGS / PLC_MAX_BITS. Returns the count or -errno.
 */
int plc_plan_blocks(const struct plc_map *m, unsigned device, struct plc_block **ret);
void plc_blocks_free(struct plc_block *b, unsigned n);
