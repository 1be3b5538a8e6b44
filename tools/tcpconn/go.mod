module tcpconn

go 1.19
