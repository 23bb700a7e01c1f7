package web

// OpsConfig configures the operator API and dashboard.
type OpsConfig struct{}

// opsRoutes registers the operator API (/api/v1/ops/…) and dashboard (/ops/).
func (s *Server) opsRoutes() {}
