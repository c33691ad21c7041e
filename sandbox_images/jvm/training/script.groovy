def l = System.in.newReader().readLine()
println "hello, " + l
