/**
 * The raw FFI surface: the system libbpf (libbpf.so.1) through koffi. Only src/kernel/ imports this.
 *
 * Conventions of libbpf >= 1.0 (what we rely on):
 * - functions returning a pointer return NULL on error and set errno: read koffi.errno() at once;
 * - functions returning int return a negative errno (and also set errno).
 * Structs that libbpf takes by pointer (bpf_tc_hook, bpf_tc_opts) are built as Buffers in attach.ts.
 */
import koffi from 'koffi';

export type Pointer = unknown; // koffi external pointer (opaque handle)

let lib: ReturnType<typeof bind> | undefined;
let loadError: Error | undefined;

function bind(l: koffi.IKoffiLib) {
  const printFn = koffi.proto('int libbpf_print_fn(int level, const char *fmt, void *args)');
  return {
    /** the koffi library handle, for declarations that need koffi struct types (test-run.ts) */
    lib: l,
    printFn,
    libbpf_major_version: l.func('uint32_t libbpf_major_version(void)'),
    libbpf_minor_version: l.func('uint32_t libbpf_minor_version(void)'),
    libbpf_set_print: l.func('void *libbpf_set_print(libbpf_print_fn *fn)'),
    libbpf_num_possible_cpus: l.func('int libbpf_num_possible_cpus(void)'),

    bpf_object__open_file: l.func('void *bpf_object__open_file(const char *path, void *opts)'),
    bpf_object__load: l.func('int bpf_object__load(void *obj)'),
    bpf_object__close: l.func('void bpf_object__close(void *obj)'),
    bpf_object__find_map_by_name: l.func('void *bpf_object__find_map_by_name(void *obj, const char *name)'),
    bpf_object__find_program_by_name: l.func('void *bpf_object__find_program_by_name(void *obj, const char *name)'),

    bpf_program__set_autoload: l.func('int bpf_program__set_autoload(void *prog, bool autoload)'),
    bpf_program__fd: l.func('int bpf_program__fd(void *prog)'),
    bpf_program__attach: l.func('void *bpf_program__attach(void *prog)'),
    bpf_link__destroy: l.func('int bpf_link__destroy(void *link)'),

    bpf_map__fd: l.func('int bpf_map__fd(void *map)'),
    bpf_map__set_max_entries: l.func('int bpf_map__set_max_entries(void *map, uint32_t max)'),
    bpf_map__max_entries: l.func('uint32_t bpf_map__max_entries(void *map)'),
    bpf_map__key_size: l.func('uint32_t bpf_map__key_size(void *map)'),
    bpf_map__value_size: l.func('uint32_t bpf_map__value_size(void *map)'),
    bpf_map__type: l.func('int bpf_map__type(void *map)'),

    bpf_map_lookup_batch: l.func(
      'int bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values, void *count, void *opts)'),
    bpf_map_get_next_key: l.func('int bpf_map_get_next_key(int fd, void *key, void *next_key)'),
    bpf_map_lookup_elem: l.func('int bpf_map_lookup_elem(int fd, void *key, void *value)'),
    bpf_map_update_elem: l.func('int bpf_map_update_elem(int fd, void *key, void *value, uint64_t flags)'),
    bpf_map_delete_elem: l.func('int bpf_map_delete_elem(int fd, void *key)'),
    bpf_map_lookup_and_delete_elem: l.func('int bpf_map_lookup_and_delete_elem(int fd, void *key, void *value)'),

    bpf_link_create: l.func('int bpf_link_create(int prog_fd, int target_fd, int attach_type, void *opts)'),
    bpf_tc_hook_create: l.func('int bpf_tc_hook_create(void *hook)'),
    bpf_tc_attach: l.func('int bpf_tc_attach(void *hook, void *opts)'),
    bpf_tc_detach: l.func('int bpf_tc_detach(void *hook, void *opts)'),
    bpf_tc_query: l.func('int bpf_tc_query(void *hook, void *opts)'),

    bpf_object__next_program: l.func('void *bpf_object__next_program(void *obj, void *prev)'),
    bpf_program__name: l.func('const char *bpf_program__name(void *prog)'),
    bpf_prog_load: l.func(
      'int bpf_prog_load(int prog_type, const char *prog_name, const char *license, const void *insns, size_t insn_cnt, void *opts)'),

    btf__load_vmlinux_btf: l.func('void *btf__load_vmlinux_btf(void)'),
    btf__parse: l.func('void *btf__parse(const char *path, void *ext)'),
    btf__free: l.func('void btf__free(void *btf)'),
    btf__find_by_name_kind: l.func('int btf__find_by_name_kind(void *btf, const char *name, uint32_t kind)'),
    btf__type_by_id: l.func('void *btf__type_by_id(void *btf, uint32_t id)'),
    btf__name_by_offset: l.func('const char *btf__name_by_offset(void *btf, uint32_t offset)'),
    btf__resolve_size: l.func('int64_t btf__resolve_size(void *btf, uint32_t type_id)'),

    libbpf_probe_bpf_map_type: l.func('int libbpf_probe_bpf_map_type(int map_type, void *opts)'),

    vsnprintf: libc().func('int vsnprintf(_Out_ uint8_t *buf, size_t size, const char *fmt, void *args)'),
    // mapping a ring buffer map (ringbuf.ts)
    mmap: libc().func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)'),
    munmap: libc().func('int munmap(void *addr, size_t length)'),
    sysconf: libc().func('long sysconf(int name)'),
  };
}

let libcHandle: koffi.IKoffiLib | undefined;
/** The C library (no libbpf needed): mmap and friends above, setns in netns.ts. */
export function libc(): koffi.IKoffiLib {
  libcHandle ??= koffi.load('libc.so.6');
  return libcHandle;
}

export const LIBBPF_SONAME = 'libbpf.so.1';

/** The bound library; throws a LibbpfUnavailable error (with the fix) when libbpf.so.1 is missing. */
export function libbpf(): ReturnType<typeof bind> {
  if (lib) return lib;
  if (loadError) throw loadError;
  try {
    lib = bind(koffi.load(LIBBPF_SONAME));
    return lib;
  } catch (err) {
    loadError = new Error(
      `cannot load ${LIBBPF_SONAME} (${(err as Error).message}); install it: apt-get install libbpf1`);
    throw loadError;
  }
}

/** errno of the last failed libc/libbpf call on this thread. Read it immediately after the call. */
export function lastErrno(): number {
  return koffi.errno();
}

export { koffi };
