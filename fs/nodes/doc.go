// Package nodes is the tree of the boxlitefs mount (SPEC 2): one node type
// per kind of path, each mapping the file operations it supports onto the
// engine (core/snapshot) and refusing the rest with a logged errno. Nodes
// hold identities (box and snapshot ids), never copies of engine state: every
// operation reads the current state, and engine events invalidate what the
// kernel caches.
package nodes
