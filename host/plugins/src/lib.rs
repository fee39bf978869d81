//! The wasmtime engine, WIT bindings, limits and host interfaces for plugins.
