/** Types of scripts/bundle-client-node.mjs, for the tests and benchmarks that build as `npm run build` does. */

/** Where the bundle goes under a compiled `src` folder. */
export declare const BUNDLE_PATH: string;

/** Writes the bundle of client-node under `compiledSource` (the folder `src` was compiled into); returns its path. */
export declare function bundleClientNode(compiledSource: string): Promise<string>;
