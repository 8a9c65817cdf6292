package main

import "maps"

// scenarios lists every benchmark, in the order of the table. Add a new
// area's scenarios here.
func scenarios() []Scenario {
	var all []Scenario
	for _, area := range [][]Scenario{qcow2Scenarios(), snapshotScenarios(), boxsnapScenarios(), fsScenarios()} {
		all = append(all, area...)
	}
	return all
}

// childOps lists the operations scenarios run in child processes. Add a new
// area's operations here.
func childOps() map[string]childOp {
	ops := map[string]childOp{}
	maps.Copy(ops, qcow2ChildOps())
	maps.Copy(ops, boxsnapChildOps())
	return ops
}
