// The development deployment writer, for dev mode, the demo and the tests that import it from
// here. It lives in bench/lib/dev-deployment.ts since the benchmarks' full path starts from it too
// and bench/ imports nothing from cli/ (cli → bench: govctl bench runs the benchmark harness).
export * from '../bench/lib/dev-deployment.js';
