/*
 * The walk-and-stat core of a scan (lib/client/stat-core.ts compiles this at run time with
 * bun:ffi's TinyCC). It reads the tracked directories and lstats every file on several threads,
 * which a JS loop over readdirSync and lstatSync cannot do, and matches the files to the base
 * with one hash table: a scan of an unchanged tree makes no JS string per file.
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

/* struct dirent as glibc and musl lay it out on every 64-bit Linux. */
struct dirent {
  u64 d_ino;
  i64 d_off;
  u16 d_reclen;
  unsigned char d_type;
  char d_name[256];
};
typedef struct DIR DIR;

int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *buf);
int openat(int dirfd, const char *path, int flags, ...);
DIR *fdopendir(int fd);
struct dirent *readdir(DIR *dir);
int closedir(DIR *dir);
void *realloc(void *p, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int open(const char *path, int flags, ...);
int close(int fd);
void *malloc(size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *calloc(size_t n, size_t size);
void free(void *p);
int *__errno_location(void);
int pthread_create(u64 *thread, const void *attr, void *(*start)(void *), void *arg);
int pthread_join(u64 thread, void **ret);
int pthread_mutex_lock(void *mutex);
int pthread_mutex_unlock(void *mutex);
int pthread_cond_wait(void *cond, void *mutex);
int pthread_cond_broadcast(void *cond);

#define AT_SYMLINK_NOFOLLOW 0x100
#define STATX_BASIC_STATS 0x7ff
#define O_RDONLY_CLOEXEC 02000000
#define ENOSYS 38
#define MAX_THREADS 16
#define NS 1000000000LL
#define DT_UNKNOWN 0
#define DT_DIR 4
#define DT_REG 8
#define DT_LNK 10
#define S_IFMT 0170000
#define S_IFREG 0100000
#define S_IFDIR 0040000
#define S_IFLNK 0120000

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

/* A growing byte buffer. */
struct bytes {
  char *at;
  size_t len, cap;
  int failed;
};

/* What one walking thread found: its regular files and symlinks (names, FIELDS doubles each) and skipped entries. */
struct walker {
  struct job *job;
  struct bytes names;
  struct bytes stats;
  struct bytes skipped;
  int n;
};

struct job {
  int top;
  int n;
  int threads;
  struct bytes names; /* the paths, each ended by a NUL */
  const char **paths;
  double *out;
  u64 thread[MAX_THREADS];
  int started[MAX_THREADS];
  struct part part[MAX_THREADS];
  /* A tree walk (soc_walk_start) runs on its own thread, which stats what it found. */
  u64 walker;
  int walking;
  struct bytes starts;   /* directories to walk, then files to take as they are */
  int start_dirs, start_files;
  struct bytes excluded; /* paths never to enter or take */
  int excluded_n;
  struct bytes skipped;  /* one type byte ('s' special) then the path, NUL-ended */
  int enosys;
  /* The walk's shared queue of directories (NUL-ended paths), taken from `queue_next` on, under
   * `mutex`; `busy` threads are reading one. Zeroed memory is an unlocked mutex and a fresh
   * condition in glibc and musl alike. */
  u64 mutex[8];
  u64 cond[8];
  struct bytes queue;
  size_t queue_next;
  int busy;
  struct walker walkers[MAX_THREADS];
};

static void put(struct bytes *b, const char *s, size_t n) {
  if (b->failed) return;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 65536;
    while (cap < b->len + n) cap *= 2;
    char *grown = realloc(b->at, cap);
    if (!grown) {
      b->failed = 1;
      return;
    }
    b->at = grown;
    b->cap = cap;
  }
  memcpy(b->at + b->len, s, n);
  b->len += n;
}

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
  for (int t = 0; t < MAX_THREADS; t++) {
    free(job->walkers[t].names.at);
    free(job->walkers[t].stats.at);
    free(job->walkers[t].skipped.at);
  }
  free(job->queue.at);
  free(job->names.at);
  free(job->starts.at);
  free(job->excluded.at);
  free(job->skipped.at);
  free(job->paths);
  free(job->out);
  free(job);
}

/* Points job->paths at the names and makes room for the results; 0 when out of memory. */
static int index_names(struct job *job) {
  int n = job->n;
  job->paths = malloc(sizeof(char *) * (size_t)(n > 0 ? n : 1));
  job->out = malloc(sizeof(double) * FIELDS * (size_t)(n > 0 ? n : 1));
  if (!job->paths || !job->out || job->names.failed) return 0;
  const char *at = job->names.at;
  for (int i = 0; i < n; i++) {
    job->paths[i] = at;
    at += strlen(at) + 1;
  }
  return 1;
}

/* Stats the job's paths on its threads and waits for them (a thread that cannot start: here). */
static void stat_all(struct job *job, int wait) {
  int n = job->n;
  int threads = job->threads;
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
  if (!wait) return;
  for (int t = 0; t < threads; t++) {
    if (job->started[t]) pthread_join(job->thread[t], 0);
    else stat_part(&job->part[t]);
    job->started[t] = 0;
    job->enosys |= job->part[t].enosys;
  }
}

static struct job *new_job(const char *top, int threads) {
  struct job *job = calloc(1, sizeof(struct job));
  if (!job) return 0;
  job->top = open(top, O_RDONLY_CLOEXEC);
  if (job->top < 0) {
    free(job);
    return 0;
  }
  if (threads < 1) threads = 1;
  if (threads > MAX_THREADS) threads = MAX_THREADS;
  job->threads = threads;
  return job;
}

/*
 * Starts lstat-ing the `n` NUL-terminated paths packed in `names` (`size` bytes, relative to
 * directory `top`) on `threads` threads, and returns at once: a job to hand to soc_stat_wait, or
 * 0 when none could start (the caller then stats the paths itself). The job works on its own
 * copies: the JS memory behind `names` may move once this call returns.
 */
void *soc_stat_start(const char *top, const char *names, int size, int n, int threads) {
  struct job *job = new_job(top, threads);
  if (!job) return 0;
  job->n = n;
  put(&job->names, names, (size_t)size);
  put(&job->names, "", 1);
  if (!index_names(job)) {
    free_job(job);
    return 0;
  }
  stat_all(job, 0);
  return job;
}

/* soc's own exclusions by name (ignore.ts BUILTIN): a conflict copy kept by `pull --keep-both`,
 * "*.conflict-*-DDDDDDDD-DDDDDD*"; and a directory named ".soc". */
static int is_digits(const char *s, int n) {
  for (int i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9') return 0;
  return 1;
}

static int builtin_excluded(const char *name, int is_dir) {
  if (is_dir && strcmp(name, ".soc") == 0) return 1;
  for (const char *c = name; *c; c++) {
    if (c[0] != '.' || c[1] != 'c' || c[2] != 'o' || c[3] != 'n' || c[4] != 'f' || c[5] != 'l' || c[6] != 'i' || c[7] != 'c' ||
        c[8] != 't' || c[9] != '-')
      continue;
    for (const char *d = c + 10; *d; d++) {
      if (d[0] == '-' && strlen(d) >= 16 && is_digits(d + 1, 8) && d[9] == '-' && is_digits(d + 10, 6)) return 1;
    }
    return 0;
  }
  return 0;
}

static int is_excluded(struct job *job, const char *rel) {
  const char *at = job->excluded.at;
  for (int i = 0; i < job->excluded_n; i++) {
    if (strcmp(at, rel) == 0) return 1;
    at += strlen(at) + 1;
  }
  return 0;
}

static void take_file(struct walker *w, const char *path, size_t plen, const struct statx *st) {
  double o[FIELDS];
  o[0] = (double)st->stx_size;
  split_time(st->stx_mtime, &o[1], &o[2]);
  split_time(st->stx_ctime, &o[3], &o[4]);
  o[5] = (double)st->stx_mode;
  put(&w->names, path, plen + 1);
  put(&w->stats, (const char *)o, sizeof o);
  w->n++;
}

static void skip_entry(struct walker *w, char type, const char *path, size_t plen) {
  put(&w->skipped, &type, 1);
  put(&w->skipped, path, plen + 1);
}

/*
 * Reads directory `rel` ("" for the top): lstats each file through the directory's own fd (one
 * path step, not the whole path), keeps the regular ones and the symlinks (never followed), and
 * puts subdirectories in `subdirs`.
 */
static void read_dir(struct walker *w, const char *rel, size_t len, struct bytes *subdirs, char *path) {
  struct job *job = w->job;
  int fd = openat(job->top, len ? rel : ".", O_RDONLY_CLOEXEC);
  if (fd < 0) return;
  DIR *dir = fdopendir(fd);
  if (!dir) {
    close(fd);
    return;
  }
  for (struct dirent *e = readdir(dir); e; e = readdir(dir)) {
    const char *name = e->d_name;
    if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
    size_t n = strlen(name);
    if (len + 1 + n >= 4096) continue; /* longer than PATH_MAX: no system call could reach it */
    size_t plen = 0;
    if (len) {
      memcpy(path, rel, len);
      path[len] = '/';
      plen = len + 1;
    }
    memcpy(path + plen, name, n + 1);
    plen += n;
    int type = e->d_type;
    struct statx st;
    if (type == DT_UNKNOWN || type == DT_REG || type == DT_LNK) {
      if (statx(fd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &st) != 0) {
        if (*__errno_location() == ENOSYS) job->enosys = 1;
        continue; /* gone since readdir */
      }
      int fmt = st.stx_mode & S_IFMT;
      type = fmt == S_IFDIR ? DT_DIR : fmt == S_IFREG ? DT_REG : fmt == S_IFLNK ? DT_LNK : -1;
    }
    if (builtin_excluded(name, type == DT_DIR) || (job->excluded_n && is_excluded(job, path))) continue;
    if (type == DT_DIR) put(subdirs, path, plen + 1);
    else if (type == DT_REG || type == DT_LNK) take_file(w, path, plen, &st);
    else skip_entry(w, 's', path, plen);
  }
  closedir(dir);
}

/* One walking thread: takes directories from the job's queue until it is empty and nobody is reading one. */
static void *walk_queue(void *arg) {
  struct walker *w = arg;
  struct job *job = w->job;
  char *rel = malloc(4096 + 256 + 2);
  char *path = malloc(4096 + 256 + 2);
  struct bytes subdirs = {0};
  if (!rel || !path) {
    job->names.failed = 1;
    free(rel);
    free(path);
    return 0;
  }
  pthread_mutex_lock(job->mutex);
  for (;;) {
    if (job->queue_next < job->queue.len) {
      size_t len = strlen(job->queue.at + job->queue_next);
      memcpy(rel, job->queue.at + job->queue_next, len + 1); /* the queue may move while we read */
      job->queue_next += len + 1;
      job->busy++;
      pthread_mutex_unlock(job->mutex);
      subdirs.len = 0;
      read_dir(w, rel, len, &subdirs, path);
      pthread_mutex_lock(job->mutex);
      if (subdirs.len) put(&job->queue, subdirs.at, subdirs.len);
      if (subdirs.failed) job->names.failed = 1;
      job->busy--;
      pthread_cond_broadcast(job->cond);
    } else if (job->busy == 0) {
      break;
    } else {
      pthread_cond_wait(job->cond, job->mutex);
    }
  }
  pthread_cond_broadcast(job->cond);
  pthread_mutex_unlock(job->mutex);
  free(subdirs.at);
  free(rel);
  free(path);
  return 0;
}

/* The walker thread: walks on the job's threads, then gathers what they found. */
static void *walk_all(void *arg) {
  struct job *job = arg;
  struct walker *first = &job->walkers[0];
  const char *at = job->starts.at;
  for (int i = 0; i < job->start_dirs + job->start_files; i++) {
    size_t len = strlen(at);
    if (i >= job->start_dirs) {
      struct statx st;
      if (statx(job->top, at, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &st) == 0 && ((st.stx_mode & S_IFMT) == S_IFREG || (st.stx_mode & S_IFMT) == S_IFLNK))
        take_file(first, at, len, &st);
    } else if (len < 4096) put(&job->queue, at, len + 1);
    at += len + 1;
  }
  for (int t = 0; t < job->threads; t++) job->walkers[t].job = job;
  for (int t = 1; t < job->threads; t++) job->started[t] = pthread_create(&job->thread[t], 0, walk_queue, &job->walkers[t]) == 0;
  walk_queue(first);
  for (int t = 1; t < job->threads; t++)
    if (job->started[t]) pthread_join(job->thread[t], 0);
  for (int t = 0; t < job->threads; t++) {
    struct walker *w = &job->walkers[t];
    put(&job->names, w->names.at, w->names.len);
    put(&job->skipped, w->skipped.at, w->skipped.len);
    if (w->names.failed || w->stats.failed || w->skipped.failed) job->names.failed = 1;
    job->n += w->n;
  }
  if (!index_names(job)) {
    job->names.failed = 1;
    return 0;
  }
  size_t o = 0;
  for (int t = 0; t < job->threads; t++) {
    struct walker *w = &job->walkers[t];
    if (w->stats.len) memcpy(job->out + o, w->stats.at, w->stats.len);
    o += w->stats.len / sizeof(double);
  }
  return 0;
}

/*
 * Starts walking the tree at `top` on a thread of its own and returns at once: a job for
 * soc_stat_wait, or 0 when none could start. `starts` holds `dirs` directories to walk, then
 * `files` files to take as they are; `excluded` holds `excluded_n` paths never to enter or take;
 * all relative to `top`, each ended by a NUL. soc's own exclusions by name apply (builtin_excluded);
 * the caller walks in JS where a .socignore adds patterns of its own.
 */
void *soc_walk_start(const char *top, const char *starts, int starts_size, int dirs, int files, const char *excluded, int excluded_size, int excluded_n, int threads) {
  struct job *job = new_job(top, threads);
  if (!job) return 0;
  put(&job->starts, starts, (size_t)starts_size);
  put(&job->excluded, excluded, (size_t)excluded_size);
  job->start_dirs = dirs;
  job->start_files = files;
  job->excluded_n = excluded_n;
  if (job->starts.failed || job->excluded.failed || pthread_create(&job->walker, 0, walk_all, job) != 0) {
    free_job(job);
    return 0;
  }
  job->walking = 1;
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

/*
 * For each of the job's paths, the index of the same path among the `count` NUL-terminated
 * paths packed in `base` (`size` bytes), or -1, into `match`. One hash table, no string
 * objects. Returns -1 when `base` does not hold `count` paths.
 */
static int match_paths(struct job *job, const char *base, int size, int count, i32 *match) {
  const char **at = malloc(sizeof(char *) * (size_t)(count > 0 ? count : 1));
  u32 slots = 16;
  while (slots < (u32)count * 2u) slots <<= 1;
  u32 *table = calloc(slots, sizeof(u32));
  int ok = at && table;
  const char *p = base;
  const char *end = base + size;
  for (int j = 0; ok && j < count; j++) {
    at[j] = p;
    while (p < end && *p) p++;
    if (p >= end) ok = 0;
    p++;
    u32 k = (u32)hash_path(at[j]) & (slots - 1);
    while (ok && table[k]) k = (k + 1) & (slots - 1);
    if (ok) table[k] = (u32)j + 1;
  }
  for (int i = 0; ok && i < job->n; i++) {
    const char *name = job->paths[i];
    u32 k = (u32)hash_path(name) & (slots - 1);
    match[i] = -1;
    for (; table[k]; k = (k + 1) & (slots - 1)) {
      if (strcmp(at[table[k] - 1], name) == 0) {
        match[i] = (i32)table[k] - 1;
        break;
      }
    }
  }
  free(at);
  free(table);
  return ok ? 0 : -1;
}

/*
 * Waits for a job (started by soc_stat_start or soc_walk_start) and tells its size in `info`:
 * paths, bytes of names, bytes of skipped entries, status (0 done; -1 statx(2) is missing from
 * the kernel, ENOSYS, so nothing can be trusted; -3 out of memory). The job stays until
 * soc_job_free.
 */
void soc_stat_wait(void *handle, double *info) {
  struct job *job = handle;
  if (job->walking) {
    pthread_join(job->walker, 0);
    job->walking = 0;
  } else
    for (int t = 0; t < job->threads; t++) {
      if (job->started[t]) pthread_join(job->thread[t], 0);
      else stat_part(&job->part[t]);
      job->enosys |= job->part[t].enosys;
    }
  info[0] = job->n;
  info[1] = (double)job->names.len;
  info[2] = (double)job->skipped.len;
  info[3] = job->names.failed || job->skipped.failed ? -3 : job->enosys ? -1 : 0;
}

/*
 * Matches a waited-for job's paths to `base` (see match_paths) into `match`, and compares the
 * stat of each matched path with the base's numbers in `base_stats` (per entry: size, mtime s,
 * mtime ns, ctime s, ctime ns, settled): `clean[i]` is 1 when the entry is settled and all five
 * are equal, the only case where a scan need not look at the file (state.ts statIsTrusted).
 * Returns -2 when `base` was malformed (then neither array means anything), else 0.
 */
int soc_job_compare(void *handle, const char *base, int size, int count, const double *base_stats, i32 *match, unsigned char *clean) {
  struct job *job = handle;
  if (match_paths(job, base, size, count, match) < 0) return -2;
  for (int i = 0; i < job->n; i++) {
    clean[i] = 0;
    if (match[i] < 0) continue;
    const double *b = base_stats + (size_t)match[i] * FIELDS;
    const double *w = job->out + (size_t)i * FIELDS;
    clean[i] = b[5] == 1 && b[0] == w[0] && b[1] == w[1] && b[2] == w[2] && b[3] == w[3] && b[4] == w[4];
  }
  return 0;
}

/* The FIELDS numbers of a waited-for job's path `i`, into `out`. */
void soc_job_stat(void *handle, int i, double *out) {
  struct job *job = handle;
  memcpy(out, job->out + (size_t)i * FIELDS, sizeof(double) * FIELDS);
}

/* The length of a waited-for job's path `i`, and its bytes into `buf` when `cap` holds them. */
int soc_job_path(void *handle, int i, char *buf, int cap) {
  struct job *job = handle;
  int len = (int)strlen(job->paths[i]);
  if (len <= cap) memcpy(buf, job->paths[i], (size_t)len);
  return len;
}

/* A waited-for job's skipped entries (info[2] bytes), into `buf`. */
void soc_job_skipped(void *handle, char *buf) {
  struct job *job = handle;
  memcpy(buf, job->skipped.at, job->skipped.len);
}

/* Frees a job whose results were taken one by one. */
void soc_job_free(void *handle) {
  free_job(handle);
}

/*
 * Copies all of a waited-for job's results out: FIELDS numbers per path into `out`, the names
 * into `names` and where each starts into `starts` (both optional), the skipped entries into
 * `skipped` (optional). The job stays until soc_job_free.
 */
void soc_job_take(void *handle, double *out, char *names, i32 *starts, char *skipped) {
  struct job *job = handle;
  memcpy(out, job->out, sizeof(double) * FIELDS * (size_t)job->n);
  if (names) memcpy(names, job->names.at, job->names.len);
  if (starts)
    for (int i = 0; i < job->n; i++) starts[i] = (i32)(job->paths[i] - job->names.at);
  if (skipped) memcpy(skipped, job->skipped.at, job->skipped.len);
}
