//! Strata's cross-layer end-to-end tests: each file here drives several layers at once
//! through their binaries (`strata`, `strata-monitor`, `strata-runc`), as a user would.
//! This library holds nothing; the tests are the `[[test]]` targets of this package.
