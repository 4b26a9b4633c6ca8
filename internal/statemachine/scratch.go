package statemachine

import _ "github.com/fsnotify/fsnotify"
