module github.com/boxlite-ai/boxlitefs

go 1.26.8

require (
	github.com/fsnotify/fsnotify v1.10.1
	github.com/hanwen/go-fuse/v2 v2.12.1
	github.com/klauspost/compress v1.20.5
	github.com/lima-vm/go-qcow2reader v0.7.0
	github.com/mattn/go-sqlite3 v1.14.53
	golang.org/x/sys v0.50.0
)
