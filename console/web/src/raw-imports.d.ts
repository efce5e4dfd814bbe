// Vite's `?raw` imports (tests read docs/ as text this way; the browser build never does).
declare module '*.md?raw' {
  const text: string;
  export default text;
}
