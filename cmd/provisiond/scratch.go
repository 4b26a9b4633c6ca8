package main

import _ "github.com/provisiond/provisiond/internal/fleetsim"
