// Package template is fleetsim's provisioning template engine: it parses an AWS IoT fleet
// provisioning template body as AWS takes it, refuses what AWS does not document (Conditions,
// Fn::If, Fn::GetAtt, unknown resources…) at load time with the file and JSON path, evaluates a
// template against a device's parameters and certificate, and applies the resulting thing to an
// existing one following OverrideSettings.
//
// The package is pure: nothing here touches the network, and only LoadDir reads files.
package template
