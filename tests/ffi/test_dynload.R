# Rscript loads libmemgov.so with dyn.load in a fresh process and finds its symbols. Like the Python test, it
# fails if the library ever needs static TLS again (docs/design.md 4.1). usage: Rscript test_dynload.R LIBRARY
args <- commandArgs(trailingOnly = TRUE)
lib <- args[[1]]
info <- dyn.load(lib)
for (sym in c("memgov_version_string", "memgov_version_number", "memgov_last_error", "memgov_build_info")) {
  if (!is.loaded(sym)) stop(sprintf("symbol %s not found after dyn.load(%s)", sym, lib))
  native <- getNativeSymbolInfo(sym, info)
  if (is.null(native$address)) stop(sprintf("no address for %s", sym))
}
if (is.loaded("mgje_malloc") || is.loaded("mgje_mallctl")) stop("jemalloc's private API is visible from R")
dyn.unload(lib)
cat("ok: R loaded", lib, "and found memgov's symbols\n")
