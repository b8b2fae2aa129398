# Groups callgrind_annotate's self cost per function (--inclusive=no) by the component the
# function belongs to, to say how much of a request's instructions are the HTTP library, the
# async runtime, the allocator and Rollgate's own code.
# Usage: callgrind_annotate --inclusive=no --threshold=100 DUMP | awk -v requests=N -f THIS
# Prints "component<TAB>instructions per request<TAB>share", largest first, then "total".
/^ *[0-9,]+ \(/ && /\?\?\?:|\.S:|\.c:/ {
  ir = $1
  gsub(",", "", ir)
  fn = $0
  sub(/.*\?\?\?:/, "", fn)
  # The crate is the first path segment named (`<hyper::X as core::Future>::poll` is hyper's).
  crate = ""
  if (match(fn, /[A-Za-z_][A-Za-z0-9_]*::/)) crate = substr(fn, RSTART, RLENGTH - 2)
  c = "other (std, serde, hashing)"
  if (crate == "rollgate" || crate == "rollgate_core") c = "Rollgate's own code"
  if (crate ~ /^hyper/) c = "hyper, hyper-util (HTTP/1 server and client)"
  if (crate ~ /^(http|http_body|http_body_util|httparse|bytes)$/) c = "http, httparse, bytes (headers, parsing, buffers)"
  if (crate == "tokio") c = "tokio (runtime, I/O, timers)"
  if (crate ~ /^(axum|axum_core|tower|tower_service|matchit)$/) c = "axum, tower (routing, layers)"
  if (fn ~ /^_?mi_/) c = "allocator (mimalloc)"
  if ($0 ~ /\.S:|libc\.so/) c = "libc (memcpy, memcmp)"
  sum[c] += ir
  total += ir
}
END {
  for (c in sum) printf "%s\t%.0f\t%.1f%%\n", c, sum[c] / requests, 100 * sum[c] / total | "sort -t '\t' -k2 -n -r"
  close("sort -t '\t' -k2 -n -r")
  printf "total\t%.0f\t100%%\n", total / requests
}
