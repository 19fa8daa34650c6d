// Vite's client types: `import url from '…?url'` and `import.meta.env`.
/// <reference types="vite/client" />
