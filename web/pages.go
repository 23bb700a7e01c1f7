package web

// PagesConfig configures the citizen pages.
type PagesConfig struct{}

// pageRoutes registers the citizen pages (HTML, Korean by default).
func (s *Server) pageRoutes() {}
