package main

import "maps"

// scenarios lists every benchmark, in the order of the table. Add a new
// area's scenarios here.
func scenarios() []Scenario {
	return append(qcow2Scenarios(), fsScenarios()...)
}

// childOps lists the operations scenarios run in child processes. Add a new
// area's operations here.
func childOps() map[string]childOp {
	ops := map[string]childOp{}
	maps.Copy(ops, qcow2ChildOps())
	return ops
}
