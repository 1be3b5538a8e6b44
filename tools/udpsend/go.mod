module udpsend

go 1.19
