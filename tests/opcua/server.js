// server.js — node-opcua test peer for the ringhub OPC UA tests and benchmark.
//
// Usage: node server.js PORT TMPDIR [--bench N]
// Listens on 127.0.0.1:PORT (SecurityPolicy None, anonymous), fixed applicationUri,
// PKI under TMPDIR. Prints "READY <port>" on stdout once it accepts sessions.
// Own namespace (ns=1, urn:ringhub-test:opcua):
//   s=Plant.Temperature  Double, changes every 50 ms (20 + 5·sin)
//   s=Plant.Ramp         Double, +0.1 every 100 ms (deadband tests)
//   s=Plant.Running      Boolean true
//   s=Plant.Label        String "Line 1"
//   i=1001               Int32 writable (Plant.Setpoint, starts at 7)
//   s=Plant.Array        Double[] [1.5, 2.5, 3.5]
//   s=Bench.<k>          k = 0..N-1 Doubles changing every 100 ms (with --bench N)
// Second namespace urn:ringhub-test:plant (ns=2): s=Plant.Pressure Double 3.25.
"use strict";
const path = require("path");
const { OPCUAServer, OPCUACertificateManager, SecurityPolicy, MessageSecurityMode,
        DataType, Variant, StatusCodes } = require("node-opcua");

async function main() {
        const port = parseInt(process.argv[2], 10);
        const tmp = process.argv[3];
        const bi = process.argv.indexOf("--bench");
        const benchN = bi > 0 ? parseInt(process.argv[bi + 1], 10) : 0;
        const server = new OPCUAServer({
                host: "127.0.0.1", port, resourcePath: "",
                securityModes: [MessageSecurityMode.None], securityPolicies: [SecurityPolicy.None],
                allowAnonymous: true, disableDiscovery: true,
                serverCertificateManager: new OPCUACertificateManager({
                        rootFolder: path.join(tmp, "pki", "server"),
                        automaticallyAcceptUnknownCertificate: true }),
                serverInfo: { applicationUri: "urn:ringhub-test:opcua", productUri: "urn:ringhub-test" },
                buildInfo: { productName: "ringhub-test-server" },
        });
        await server.initialize();
        const as = server.engine.addressSpace;
        const ns = as.getOwnNamespace();
        const plantNs = as.registerNamespace("urn:ringhub-test:plant");
        const plant = ns.addFolder(as.rootFolder.objects, { browseName: "Plant" });
        const t0 = Date.now();
        let temp = 20, ramp = 0, setpoint = 7;
        const v = (nodeId, browseName, dataType, get, set) => ns.addVariable({
                componentOf: plant, nodeId, browseName, dataType,
                minimumSamplingInterval: 10,
                value: set ? { get, set } : { get } });
        v("s=Plant.Temperature", "Temperature", "Double", () => new Variant({ dataType: DataType.Double, value: temp }));
        v("s=Plant.Ramp", "Ramp", "Double", () => new Variant({ dataType: DataType.Double, value: ramp }));
        v("s=Plant.Running", "Running", "Boolean", () => new Variant({ dataType: DataType.Boolean, value: true }));
        v("s=Plant.Label", "Label", "String", () => new Variant({ dataType: DataType.String, value: "Line 1" }));
        const sp = ns.addVariable({ componentOf: plant, nodeId: "i=1001", browseName: "Setpoint",
                dataType: "Int32", minimumSamplingInterval: 10,
                accessLevel: "CurrentRead | CurrentWrite", userAccessLevel: "CurrentRead | CurrentWrite" });
        sp.setValueFromSource(new Variant({ dataType: DataType.Int32, value: setpoint }));
        ns.addVariable({ componentOf: plant, nodeId: "s=Plant.Array", browseName: "Array", dataType: "Double",
                valueRank: 1, arrayDimensions: [3],
                value: new Variant({ dataType: DataType.Double, arrayType: 1, value: [1.5, 2.5, 3.5] }) });
        plantNs.addVariable({ componentOf: plant, nodeId: "s=Plant.Pressure", browseName: "Pressure",
                dataType: "Double", value: new Variant({ dataType: DataType.Double, value: 3.25 }) });
        const tempNode = as.findNode("ns=1;s=Plant.Temperature");
        const rampNode = as.findNode("ns=1;s=Plant.Ramp");
        setInterval(() => { temp = 20 + 5 * Math.sin((Date.now() - t0) / 1000); }, 50);
        setInterval(() => { ramp = Math.round((ramp + 0.1) * 10) / 10; }, 100);
        if (benchN > 0) {
                const bench = ns.addFolder(as.rootFolder.objects, { browseName: "Bench" });
                const nodes = [];
                for (let k = 0; k < benchN; k++)
                        nodes.push(ns.addVariable({ componentOf: bench, nodeId: `s=Bench.${k}`,
                                browseName: `B${k}`, dataType: "Double", minimumSamplingInterval: 10,
                                value: new Variant({ dataType: DataType.Double, value: 0 }) }));
                let tick = 0;
                setInterval(() => {
                        tick++;
                        const now = new Date();
                        for (let k = 0; k < benchN; k++)
                                nodes[k].setValueFromSource(new Variant({ dataType: DataType.Double, value: tick + k / 1000 }),
                                        StatusCodes.Good, now);
                }, 100);
        }
        void tempNode; void rampNode;
        await server.start();
        process.stdout.write(`READY ${port}\n`);
        const stop = async () => { await server.shutdown(0); process.exit(0); };
        process.on("SIGTERM", stop);
        process.on("SIGINT", stop);
}
main().catch((e) => { console.error("server.js:", e); process.exit(1); });
