# escape=`
FROM mcr.microsoft.com/windows/servercore:ltsc2022
SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop';"]
WORKDIR C:\app
RUN New-Item -ItemType Directory -Path C:\data ; `
    # a comment inside the continuation
    Write-Host "created C:\data"
COPY app\ C:\app\
VOLUME C:\data
USER ContainerUser
ENTRYPOINT ["C:\\app\\app.exe"]
