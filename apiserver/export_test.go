package apiserver

import "github.com/gin-gonic/gin"

// servedRoutes lists the routes gin serves, for the tests to compare with
// the OpenAPI document.
func (s *Server) servedRoutes() gin.RoutesInfo { return s.engine.Routes() }
