/**
 * The `s3lync` help texts: the one-line usage of each command (shown with usage errors)
 * and the full help of each command and of the whole tool.
 *
 * @packageDocumentation
 */
import type { CommandName } from './command.js';

/** The one-line usage of each command, shown with usage errors. */
export const USAGE: Readonly<Record<CommandName | 'main', string>> = {
  main: 'usage: s3lync <cp|sync|mv|check|ls|rm|cat|cache> [options] <args>   (s3lync --help for more)',
  cp: 'usage: s3lync cp [options] <src> <dst>   (s3:// and local, or s3:// to s3://)',
  sync: 'usage: s3lync sync [options] <src> <dst>   (s3:// and local, or s3:// to s3://)',
  mv: 'usage: s3lync mv [options] <src> <dst>   (a verified copy, then the source is deleted)',
  check: 'usage: s3lync check [options] <src> <dst>   (compare both sides, transfer nothing)',
  ls: 'usage: s3lync ls [--recursive] <s3-uri>',
  rm: 'usage: s3lync rm [--recursive] <s3-uri>',
  cat: 'usage: s3lync cat <s3-uri>',
  cache:
    'usage: s3lync cache ls | prune [--max-size SIZE] [--older-than AGE] [--dry-run] | clear [--dry-run] [s3://bucket[/prefix]]',
};

const GLOBAL_HELP = `Global options:
  --endpoint URL       an S3-compatible endpoint (http://host:port); turns s3://bucket/key
                       into that endpoint's form, credentials from the AWS chain
  --profile NAME       the AWS profile for credentials and region (sets AWS_PROFILE)
  --region REGION      the region
  --progress MODE      progress (bars on a terminal), compact (a line per file), disabled
  --json               print one JSON object on stdout (the summary) instead of text
  -q, --quiet          print only errors
  -v, --debug          debug logging, and stack traces with errors
  -h, --help           this help; "s3lync <command> --help" for a command
  --version            the version`;

const TRANSFER_HELP = `  --dry-run            show what would be done, change nothing
  --exclude GLOB       skip files whose path relative to the source matches GLOB
  --include GLOB       take back files an earlier --exclude skipped; --exclude and
                       --include apply in order, the last match wins (as in aws s3;
                       * also matches /)
  --exclude-regex RE   skip relative paths (and directories) matching the regular
                       expression RE (repeatable); added to the defaults (hidden files
                       and directories, __pycache__, .egg-info), which --include does
                       not take back
  --no-default-excludes  do not skip the defaults
  --concurrency N      files in flight at once (default S3LYNC_MAX_WORKERS, else 8)
  --no-checksum        compare sizes only, not MD5s
  --follow-symlinks    follow every link, also out of the tree and into directories
                       (as aws s3 does; loops excepted)
  --no-follow-symlinks read links to files inside the tree; skip, with a warning,
                       links out of it and links to directories (the default)
  --sse-c-key SRC      SSE-C: the customer key (32 bytes, or their base64) from
                       file://PATH or env:NAME, default $S3LYNC_SSE_C_KEY; sent with
                       every request on each object, both ways; never printed

Upload options (objects whose bytes are unchanged are not sent again for these):
  --content-type TYPE  Content-Type of every object (default: guessed from the name;
                       application/octet-stream when the extension is unknown)
  --no-guess-mime-type do not guess a Content-Type
  --cache-control V    Cache-Control, e.g. "max-age=3600"
  --content-encoding V Content-Encoding, e.g. gzip
  --content-disposition V  Content-Disposition, e.g. attachment
  --metadata K=V,...   user metadata (x-amz-meta-*), or a JSON object
  --sse ALG            server-side encryption: AES256 or aws:kms
  --sse-kms-key-id ID  the KMS key of --sse aws:kms
  --storage-class C    e.g. STANDARD_IA, GLACIER_IR, or a server's own class
  --acl ACL            a canned ACL: private, public-read, bucket-owner-full-control, ...
  --compare-params P,...  also send again unchanged files whose object's parameters
                       differ (one HEAD per unchanged file): ContentType, CacheControl,
                       ContentEncoding, ContentDisposition, ContentLanguage, Metadata,
                       StorageClass, ServerSideEncryption`;

/** The help of each command, and the general one. */
export const HELP: Readonly<Record<CommandName | 'main', string>> = {
  main: `s3lync: use S3 objects like local files, from the shell.

${USAGE.main}

Commands:
  cp <src> <dst>       copy a file or a tree, either way (unchanged files are skipped)
  sync <src> <dst>     the same, plus --delete to mirror
  mv <src> <dst>       copy, then delete each source file whose copy verified
  check <src> <dst>    list what is missing on either side or differs (exit 0/1/2)
  ls <s3-uri>          list objects and prefixes
  rm <s3-uri>          delete an object (--recursive: everything under a prefix)
  cat <s3-uri>         write an object to stdout
  cache ls|prune|clear inspect and clean the local cache (~/.cache/s3lync)

S3 URIs: s3://bucket/key, s3://host:port@bucket/key, s3://https://host/bucket/key,
s3://SECRET:ACCESS@https://host/bucket/key (secret first; never printed).
A key ending with "/" names a prefix; otherwise a key that is not an object is one.

${GLOBAL_HELP}

Exit codes: 0 success, 1 failure (some files failed: the summary lists them), 2 bad
usage, 130 interrupted (Ctrl-C: transfers in flight are cancelled and cleaned up).`,
  cp: `${USAGE.cp}

Copies a file or a tree between S3 and the local disk; the direction follows which side
is s3://. Files that are already equal are skipped; nothing is deleted.
The destination is the path itself; a destination ending with "/" (or an existing
directory) receives a single file under its own name.

Options:
${TRANSFER_HELP}

${GLOBAL_HELP}

Examples:
  s3lync cp ./report.csv s3://bucket/reports/2026.csv
  s3lync cp ./report.csv s3://bucket/reports/
  s3lync cp s3://bucket/datasets/images/ ./images
  s3lync --endpoint http://127.0.0.1:7480 cp s3://bucket/key.bin ./key.bin`,
  sync: `${USAGE.sync}

Makes the destination hold what the source holds: transfers what is missing or
changed. With --delete, also deletes what the source lacks (never excluded paths,
never after a failed transfer).

Options:
  --delete             mirror: delete at the destination what the source lacks
  --max-delete N       with --delete: refuse (before changing anything) to delete more
${TRANSFER_HELP}

${GLOBAL_HELP}

Examples:
  s3lync sync ./site s3://bucket/site/ --delete --dry-run
  s3lync sync ./site s3://bucket/site/ --cache-control max-age=300 --acl public-read
  s3lync sync s3://bucket/datasets/run-1/ ./run-1 --exclude '*' --include '*.csv' --json
  s3lync sync ./repo s3://bucket/repo/ --exclude-regex '(^|/)node_modules(/|$)'
  s3lync sync ./logs s3://bucket/logs/ --delete --max-delete 100`,
  mv: `${USAGE.mv}

Copies as cp does (local <-> S3, or S3 -> S3), then deletes each source file whose
destination is proven to hold its bytes (copied and verified, or already equal). A file
whose copy failed or could not be verified stays at the source; then the exit code is 1.

Options:
${TRANSFER_HELP}

${GLOBAL_HELP}

Examples:
  s3lync mv ./outbox/ s3://bucket/inbox/
  s3lync mv s3://bucket/incoming/ s3://bucket/archive/2026/`,
  check: `${USAGE.check}

Compares the two sides as sync would (the hash index for a local side, ETags and
s3lync's fingerprints for S3) and lists every file missing on either side, differing,
or that cannot be compared ("unknown": never counted as a match). Transfers nothing.
Exit codes: 0 both sides match, 1 they differ, 2 the check itself failed.

Options:
  --exclude GLOB, --include GLOB, --exclude-regex RE, --no-default-excludes,
  --concurrency N      as for sync

${GLOBAL_HELP}

Examples:
  s3lync check ./site s3://bucket/site/
  s3lync check s3://bucket/a/ s3://bucket/b/ --json`,
  ls: `${USAGE.ls}

Lists the objects and prefixes (PRE) one level under the URI, with their last-modified
time (UTC) and size in bytes; --recursive lists every key under it. Exits 1 when nothing
is found.

Options:
  -r, --recursive      list every object under the prefix, with full keys

${GLOBAL_HELP}

Examples:
  s3lync ls s3://bucket/
  s3lync ls --recursive s3://bucket/datasets/
  s3lync ls s3://bucket/logs/ --json`,
  rm: `${USAGE.rm}

Deletes one object, or with --recursive every object under the prefix (DeleteObjects
in batches of 1,000).

Options:
  -r, --recursive      delete every object under the prefix (key/ is added if missing)

${GLOBAL_HELP}

Examples:
  s3lync rm s3://bucket/reports/old.csv
  s3lync rm --recursive s3://bucket/tmp/`,
  cat: `${USAGE.cat}

Streams an object to stdout (nothing is written to disk), then checks its size and,
where the server says, its MD5.

Options:
  --sse-c-key SRC      SSE-C: the customer key from file://PATH or env:NAME, default
                       $S3LYNC_SSE_C_KEY

${GLOBAL_HELP}

Examples:
  s3lync cat s3://bucket/config.json
  s3lync cat s3://bucket/logs/today.log | grep ERROR`,
  cache: `${USAGE.cache}

The local cache: where objects opened or downloaded without a local path live
($XDG_CACHE_HOME/s3lync, else ~/.cache/s3lync). Nothing is sent to S3.

  cache ls             per bucket and prefix: last use (UTC), size, file count; files
                       whose content was never uploaded are flagged DIRTY
  cache prune          evict files last used longer ago than --older-than, then the
                       least recently used until the cache fits --max-size (default
                       S3LYNC_CACHE_MAX_SIZE)
  cache clear [URI]    remove the cached files of s3://bucket[/prefix], or all of them

Files open through open(), under a running sync's lock, or dirty are never removed
(they are listed as kept). Hash index entries and records go with the files.

Options:
  --max-size SIZE      prune: bytes, or with a unit K, M, G, T (powers of 1024): 10G
  --older-than AGE     prune: with a unit s, m, h, d, w: 30d, 12h
  --dry-run            prune, clear: show what would be removed, remove nothing

${GLOBAL_HELP}

Examples:
  s3lync cache ls
  s3lync cache prune --max-size 10G --older-than 30d --dry-run
  s3lync cache clear s3://bucket/datasets/
  s3lync cache ls --json`,
};
