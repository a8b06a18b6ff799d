# Drives Ruby's Dalli (Debian's ruby-dalli, binary protocol only) through the calls applications
# make, printing one line per call: the call and what it returned (or the exception class).
# tests/compat/test_dalli.py runs it against memcached and against Shoal and compares.
# Usage: ruby dalli_transcript.rb HOST:PORT [namespace]
require "dalli"

server = ARGV.fetch(0)
# value_max_bytes above -I: the server, not Dalli, refuses the value over 1 MB.
opts = { socket_timeout: 2, socket_max_failures: 1, down_retry_delay: 0, value_max_bytes: 4_000_000 }
opts[:namespace] = ARGV[1] if ARGV[1]
dc = Dalli::Client.new(server, opts)

# CAS values differ between servers: show whether there is one, not its number.
def shown(v)
  case v
  when Integer then v > 1_000_000_000_000 ? "<big>" : v.inspect
  when Array then "[" + v.map { |x| shown(x) }.join(", ") + "]"
  when Hash then "{" + v.sort_by { |k, _| k.to_s }.map { |k, x| "#{k.inspect}=>#{shown(x)}" }.join(", ") + "}"
  else v.inspect
  end
end

def step(name)
  r = yield
  puts "#{name} -> #{shown(r)}"
rescue StandardError => e
  puts "#{name} !! #{e.class}"
end

def cas_shown(pair)
  value, cas = pair
  [value, cas.is_a?(Integer) && cas > 0 ? "cas" : cas]
end

step("flush") { dc.flush }
step("version is 1.6") { dc.version.values.first.start_with?("1.6.") }
step("alive!") { dc.alive!; true }
step("get missing") { dc.get("missing") }
step("set") { dc.set("k1", "hello") }
step("get") { dc.get("k1") }
step("set raw") { dc.set("raw", "abc", 0, raw: true) }
step("get raw") { dc.get("raw", raw: true) }
step("set object") { dc.set("obj", { "a" => [1, 2.5, nil], "b" => "x" }) }
step("get object") { dc.get("obj") }
step("set integer") { dc.set("int", 42) }
step("get integer") { dc.get("int") }
step("set empty") { dc.set("empty", "", 0, raw: true) }
step("get empty") { dc.get("empty", raw: true) }
step("set binary bytes") { dc.set("bin", (0..255).map(&:chr).join.b, 0, raw: true) }
step("get binary bytes") { dc.get("bin", raw: true) == (0..255).map(&:chr).join.b }
big = "v" * 600_000
step("set 600 KB") { dc.set("big", big, 0, raw: true) }
step("get 600 KB") { dc.get("big", raw: true) == big }
step("set compressible 2 MB") { dc.set("zip", "z" * 2_000_000, 0, compress: true) }
step("get compressible 2 MB") { dc.get("zip") == "z" * 2_000_000 }
step("add existing") { dc.add("k1", "other") }
step("add new") { dc.add("k2", "two") }
step("get added") { dc.get("k2") }
step("replace existing") { dc.replace("k2", "deux") }
step("replace missing") { dc.replace("nope", "x") }
step("get replaced") { dc.get("k2") }
step("append") { dc.append("raw", "def") }
step("prepend") { dc.prepend("raw", "___") }
step("get appended") { dc.get("raw", raw: true) }
step("append missing") { dc.append("nope", "x") }
step("delete") { dc.delete("k2") }
step("delete missing") { dc.delete("k2") }
step("get deleted") { dc.get("k2") }
step("incr missing") { dc.incr("ctr", 1) }
step("incr missing with default") { dc.incr("ctr", 1, 0, 10) }
step("incr") { dc.incr("ctr", 5) }
step("decr") { dc.decr("ctr", 3) }
step("decr below zero") { dc.decr("ctr", 1000) }
step("decr missing with default") { dc.decr("dctr", 1, 0, 7) }
step("incr wraps") { dc.set("wrap", "18446744073709551615", 0, raw: true); dc.incr("wrap", 2) }
step("incr non-numeric") { dc.incr("k1", 1) }
step("get counter") { dc.get("ctr", raw: true) }
step("get_multi") { dc.get_multi("k1", "int", "missing", "raw", "ctr") }
step("get_multi none") { dc.get_multi("x1", "x2") }
step("get_multi many") do
  keys = (1..120).map { |i| "m#{i}" }
  keys.each_with_index { |key, i| dc.set(key, i) if i.even? }
  dc.get_multi(*keys).size
end
step("fetch miss") { dc.fetch("f1") { "computed" } }
step("fetch hit") { dc.fetch("f1") { "again" } }
step("get_cas") { cas_shown(dc.get_cas("k1")) }
step("get_cas missing") { cas_shown(dc.get_cas("missing")) }
step("cas block") { dc.cas("int") { |v| v + 1 } }
step("cas block result") { dc.get("int") }
step("cas block missing") { dc.cas("missing") { |v| v } }
step("cas! missing") { dc.cas!("casnew") { |v| "made #{v.inspect}" } }
step("get cas!") { dc.get("casnew") }
step("set_cas right") do
  _, cas = dc.get_cas("k1")
  dc.set_cas("k1", "via cas", cas).is_a?(Integer)
end
step("set_cas wrong") { dc.set_cas("k1", "stale", 12_345) }
step("replace_cas wrong") { dc.replace_cas("k1", "stale", 12_345) }
step("delete_cas wrong") { dc.delete_cas("k1", 12_345) }
step("delete_cas right") do
  _, cas = dc.get_cas("k1")
  dc.delete_cas("k1", cas)
end
step("get_multi_cas") { dc.get_multi_cas("int", "raw", "none").transform_values { |p| cas_shown(p) } }
step("touch") { dc.touch("int", 100) }
step("touch missing") { dc.touch("missing", 100) }
step("gat") { dc.gat("int", 100) }
step("gat missing") { dc.gat("missing", 100) }
step("set expired ttl") { dc.set("gone", "x", -1) }
step("get expired") { dc.get("gone") }
step("multi (quiet)") do
  dc.multi do
    dc.set("q1", "a")
    dc.set("q2", "b")
    dc.delete("q1")
    dc.add("q2", "c")
  end
  [dc.get("q1"), dc.get("q2")]
end
step("long key") { dc.set("L" * 300, "hashed"); dc.get("L" * 300) }
step("key with space") { dc.set("a key", "spaced"); dc.get("a key") }
noise = Random.new(1).bytes(1_100_000)
step("value over 1 MB") { dc.set("huge", noise, 0, raw: true, compress: false) }
step("get over 1 MB") { dc.get("huge", raw: true).nil? }
step("value near 1 MB") { dc.set("near", noise[0, 1_048_000], 0, raw: true, compress: false) }
step("get near 1 MB") { dc.get("near", raw: true) == noise[0, 1_048_000] }
step("stats keys") do
  s = dc.stats.values.first
  %w[curr_items get_hits get_misses cmd_get cmd_set total_items].map { |k| s.key?(k) }
end
step("stats items") { dc.stats(:items).values.first.is_a?(Hash) }
step("stats slabs") { dc.stats(:slabs).values.first.key?("active_slabs") }
step("stats after reset") { dc.stats.values.first.values_at("get_hits", "cmd_set", "curr_items") }
step("flush") { dc.flush }
step("get after flush") { dc.get("int") }
step("close") { dc.close; true }
step("reconnects") { dc.set("after", "close"); dc.get("after") }
