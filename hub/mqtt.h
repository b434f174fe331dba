/*
 * mqtt.h — the MQTT bridge: the hub's state and events on an MQTT broker, Home Assistant
 * discovery, and commands from `…/set` topics (docs/mqtt.md).
 *
 * Process: ringhub. The bridge hangs off the one publish path as an events sink
 * (mqtt_queue.c: it only enqueues) and talks to the broker with libmosquitto on a thread
 * of its own, driven by its own poll() loop (not mosquitto_loop(), which uses select()
 * and refuses fds ≥ 1024 — a hub with many clients has those). A slow or absent broker
 * holds up that thread only: never the reader, WebSocket clients or REST. Settings come
 * from [mqtt] in ringhub.conf (common/conf_keys.def) and follow SIGHUP.
 *
 * Wiring (main.c): mqtt_start() before the reader starts (the sink must be registered
 * before events flow), mqtt_stop() when the loop has ended (offline is published and the
 * session closed), mqtt_free() after every publishing thread has stopped.
 */
#pragma once

/* Read [mqtt], register the sink and the reload hook, start the bridge when enabled.
 * 0, or a negative errno (logged). */
int mqtt_start(int argc, char **argv);
/* Stop the bridge's thread; the sink keeps working (and drops) until mqtt_free(). */
void mqtt_stop(void);
void mqtt_free(void);
