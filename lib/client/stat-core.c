/*
 * The stat core of a scan (lib/client/stat-core.ts compiles this at run time with bun:ffi's
 * TinyCC). It lstats a list of repository paths relative to the tree's top on several threads,
 * which a JS loop over lstatSync cannot do: one statx(2) per path, into six doubles each.
 *
 * No system headers: the machine running soc may have none. Everything used is declared here,
 * in the forms the Linux ABI fixes for every architecture (struct statx is one layout
 * everywhere; the flags below are the generic ones).
 */

typedef unsigned long long u64;
typedef long long i64;
typedef unsigned int u32;
typedef int i32;
typedef unsigned short u16;
typedef unsigned long size_t;

struct statx_timestamp {
  i64 tv_sec;
  u32 tv_nsec;
  i32 reserved;
};

struct statx {
  u32 stx_mask;
  u32 stx_blksize;
  u64 stx_attributes;
  u32 stx_nlink;
  u32 stx_uid;
  u32 stx_gid;
  u16 stx_mode;
  u16 spare0;
  u64 stx_ino;
  u64 stx_size;
  u64 stx_blocks;
  u64 stx_attributes_mask;
  struct statx_timestamp stx_atime, stx_btime, stx_ctime, stx_mtime;
  u32 stx_rdev_major, stx_rdev_minor, stx_dev_major, stx_dev_minor;
  u64 spare2[14];
};

int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *buf);
int open(const char *path, int flags, ...);
int close(int fd);
void *malloc(size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *calloc(size_t n, size_t size);
void free(void *p);
int *__errno_location(void);
int pthread_create(u64 *thread, const void *attr, void *(*start)(void *), void *arg);
int pthread_join(u64 thread, void **ret);

#define AT_SYMLINK_NOFOLLOW 0x100
#define STATX_BASIC_STATS 0x7ff
#define O_RDONLY_CLOEXEC 02000000
#define ENOSYS 38
#define MAX_THREADS 16
#define NS 1000000000LL

/* Per path, six doubles (all exact): size, mtime s, mtime ns, ctime s, ctime ns, st_mode; st_mode
 * is -errno when the path could not be lstat-ed. A time splits as its nanoseconds since the epoch
 * divided and remaindered by 1e9 truncating toward zero, as SQLite and BigInt do. */
#define FIELDS 6

struct part {
  int top;
  const char *const *paths;
  double *out;
  int from, to;
  int enosys;
};

struct job {
  int top;
  int n;
  int threads;
  char *names;
  double *out;
  u64 thread[MAX_THREADS];
  int started[MAX_THREADS];
  struct part part[MAX_THREADS];
  const char **paths;
};

static void split_time(struct statx_timestamp t, double *s, double *ns) {
  i64 total = t.tv_sec * NS + (i64)t.tv_nsec;
  *s = (double)(total / NS);
  *ns = (double)(total % NS);
}

static void *stat_part(void *arg) {
  struct part *p = arg;
  struct statx st;
  for (int i = p->from; i < p->to; i++) {
    double *o = p->out + (size_t)i * FIELDS;
    if (statx(p->top, p->paths[i], AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &st) != 0) {
      int err = *__errno_location();
      if (err == ENOSYS) p->enosys = 1;
      o[5] = -(double)err;
      continue;
    }
    o[0] = (double)st.stx_size;
    split_time(st.stx_mtime, &o[1], &o[2]);
    split_time(st.stx_ctime, &o[3], &o[4]);
    o[5] = (double)st.stx_mode;
  }
  return 0;
}

static void free_job(struct job *job) {
  if (job->top >= 0) close(job->top);
  free(job->names);
  free(job->paths);
  free(job->out);
  free(job);
}

/*
 * Starts lstat-ing the `n` NUL-terminated paths packed in `names` (`size` bytes, relative to
 * directory `top`) on `threads` threads, and returns at once: a job to hand to soc_stat_wait, or
 * 0 when none could start (the caller then stats the paths itself). The job works on its own
 * copies: the JS memory behind `names` may move once this call returns.
 */
void *soc_stat_start(const char *top, const char *names, int size, int n, int threads) {
  struct job *job = calloc(1, sizeof(struct job));
  if (!job) return 0;
  job->n = n;
  job->top = open(top, O_RDONLY_CLOEXEC);
  job->names = malloc((size_t)size + 1);
  job->paths = malloc(sizeof(char *) * (size_t)(n > 0 ? n : 1));
  job->out = malloc(sizeof(double) * FIELDS * (size_t)(n > 0 ? n : 1));
  if (job->top < 0 || !job->names || !job->paths || !job->out) {
    free_job(job);
    return 0;
  }
  memcpy(job->names, names, (size_t)size);
  job->names[size] = 0;
  const char *at = job->names;
  const char *end = job->names + size;
  for (int i = 0; i < n; i++) {
    job->paths[i] = at < end ? at : end;
    while (at < end && *at) at++;
    at++;
  }
  if (threads < 1) threads = 1;
  if (threads > MAX_THREADS) threads = MAX_THREADS;
  job->threads = threads;
  int per = (n + threads - 1) / threads;
  for (int t = 0; t < threads; t++) {
    struct part *p = &job->part[t];
    p->top = job->top;
    p->paths = (const char *const *)job->paths;
    p->out = job->out;
    p->from = t * per < n ? t * per : n;
    p->to = (t + 1) * per < n ? (t + 1) * per : n;
    job->started[t] = pthread_create(&job->thread[t], 0, stat_part, p) == 0;
  }
  return job;
}

static u64 hash_path(const char *p) {
  u64 h = 1469598103934665603ULL;
  while (*p) {
    h ^= (unsigned char)*p++;
    h *= 1099511628211ULL;
  }
  return h;
}

static int same_path(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

/*
 * For each of the job's paths, the index of the same path among the `count` NUL-terminated
 * paths packed in `base` (`size` bytes), or -1, into `match`. One hash table, no string
 * objects: a scan of a large tree matches its files to the base here rather than in a JS Map.
 * Returns -1 when `base` does not hold `count` paths.
 */
static int match_paths(struct job *job, const char *base, int size, int count, i32 *match) {
  const char **at = malloc(sizeof(char *) * (size_t)(count > 0 ? count : 1));
  u32 slots = 16;
  while (slots < (u32)count * 2u) slots <<= 1;
  u32 *table = calloc(slots, sizeof(u32));
  if (!at || !table) {
    free(at);
    free(table);
    return -1;
  }
  const char *p = base;
  const char *end = base + size;
  for (int j = 0; j < count; j++) {
    if (p >= end) {
      free(at);
      free(table);
      return -1;
    }
    at[j] = p;
    while (p < end && *p) p++;
    if (p >= end) {
      free(at);
      free(table);
      return -1;
    }
    p++;
    u32 k = (u32)hash_path(at[j]) & (slots - 1);
    while (table[k]) k = (k + 1) & (slots - 1);
    table[k] = (u32)j + 1;
  }
  for (int i = 0; i < job->n; i++) {
    const char *name = job->paths[i];
    u32 k = (u32)hash_path(name) & (slots - 1);
    match[i] = -1;
    for (; table[k]; k = (k + 1) & (slots - 1)) {
      if (same_path(at[table[k] - 1], name)) {
        match[i] = (i32)table[k] - 1;
        break;
      }
    }
  }
  free(at);
  free(table);
  return 0;
}

/*
 * Waits for a job, copies its FIELDS numbers per path into `out`, and frees it. With `base`
 * (see match_paths), also matches the paths to it into `match`. Returns 0 when every path was
 * tried, -1 when statx(2) is missing from the kernel (ENOSYS: nothing can be trusted), -2 when
 * `base` was malformed (`match` then means nothing). A part whose thread did not start runs here.
 */
int soc_stat_wait(void *handle, double *out, const char *base, int size, int count, i32 *match) {
  struct job *job = handle;
  int enosys = 0;
  int matched = base ? match_paths(job, base, size, count, match) : 0;
  for (int t = 0; t < job->threads; t++) {
    if (job->started[t]) pthread_join(job->thread[t], 0);
    else stat_part(&job->part[t]);
    enosys |= job->part[t].enosys;
  }
  memcpy(out, job->out, sizeof(double) * FIELDS * (size_t)job->n);
  free_job(job);
  return enosys ? -1 : matched < 0 ? -2 : 0;
}
