//! Tessera example apps and integration tests (see `examples/` and `tests/`).
