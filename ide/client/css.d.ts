/** esbuild bundles CSS imports; to the type checker they are plain side-effect modules. */
declare module '*.css';
