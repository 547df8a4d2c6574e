import { defineConfig } from 'vitest/config';

// The page is plain TypeScript; the bindings in src/bindings are generated from
// candid/inference.did by `npm run bindgen` (run before build, typecheck and test).
export default defineConfig({
  // Relative asset paths: the same build is served by `icinfer serve` at / and by an
  // asset canister at its own origin.
  base: './',
  // dfx exports CANISTER_ID_<NAME> to the build of an asset canister that depends on the
  // canister; the page reads CANISTER_ID_INFERENCE as its last resort (src/config.ts).
  envPrefix: ['VITE_', 'CANISTER_ID_'],
  // The picture preprocessor (src/inputs/preprocess.wasm) is a file the page fetches, and the
  // unit tests inline.
  assetsInclude: ['**/*.wasm'],
  // `ICINFER_URL=http://127.0.0.1:4944 npm run dev`: the dev server forwards the IC API and
  // icinfer.json to `icinfer serve`, so the page finds its canister as when serve serves it.
  server: {
    ...(process.env.ICINFER_URL
      ? { proxy: Object.fromEntries(['/api', '/icinfer.json'].map((path) => [path, process.env.ICINFER_URL!])) }
      : {}),
    // The page reads models/manifest.json (the model presets the CLI reads too).
    fs: { allow: ['.', '../models'] },
  },
  build: {
    target: 'es2022',
    outDir: 'dist',
    emptyOutDir: true,
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
