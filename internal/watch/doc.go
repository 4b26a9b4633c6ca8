// Package watch calls a function when watched files or folders change.
//
// It watches folders, never single files: an editor or an atomic writer
// replaces a file by renaming another over it, which ends a watch on the file
// itself, while a watch on its folder sees the rename, a removal and a
// re-creation alike. A burst of events (a write in several steps, a temp file
// and its rename) is gathered into one call, after which the caller re-reads
// whatever it cares about. Subfolders can be watched too (inotify does not
// recurse), and a watched folder that is removed, or that does not exist yet,
// is watched once it is there: its parent is watched until then.
package watch
