//! HTTP: routing by service alias, SCEP operations.
