// Package ops holds the file handles of the boxlitefs mount and the one
// place where engine errors become errnos. Each handle maps file operations
// (read, write, flush, release, copy_file_range) onto one engine call; the
// node types in fs/nodes decide which handle an open gets.
package ops
